// The spec's name `pattern`, read as ECMA-262 (as JSON Schema reads it), accepts exactly the names
// the contract allows: no Unicode Cc anywhere, no White_Space or U+FEFF first or last. Every code
// point is tried first, in the middle and last. Run: node tests/name_pattern.mjs
import { readFileSync } from "node:fs";

const spec = JSON.parse(readFileSync(new URL("../openapi/openapi.json", import.meta.url)));
const schemas = ["Language", "LanguageChanges"];
const isControl = (c) => /\p{Cc}/u.test(c);
const isSpace = (c) => /\p{White_Space}/u.test(c) || c === "\uFEFF";
let failures = 0;
for (const schema of schemas) {
  const source = spec.components.schemas[schema].properties.name.pattern;
  // JSON Schema patterns are not anchored implicitly and take no flags; this one anchors itself.
  for (const flags of ["", "u"]) {
    const pattern = new RegExp(source, flags);
    for (let point = 0; point <= 0x10ffff; point++) {
      if (point >= 0xd800 && point <= 0xdfff) continue; // not a character: JSON text cannot carry it alone
      const c = String.fromCodePoint(point);
      const cases = [
        [c, !isControl(c) && !isSpace(c)],
        [`a${c}`, !isControl(c) && !isSpace(c)],
        [`${c}a`, !isControl(c) && !isSpace(c)],
        [`a${c}b`, !isControl(c)],
      ];
      for (const [name, expected] of cases) {
        if (pattern.test(name) !== expected) {
          if (failures++ < 20) {
            console.log(`${schema} /${flags}: U+${point.toString(16).toUpperCase()} in ${JSON.stringify(name)}: pattern says ${!expected}, contract says ${expected}`);
          }
        }
      }
    }
  }
}
console.log(failures === 0 ? "name pattern: 1 passed, 0 failed" : `name pattern: 0 passed, 1 failed (${failures} mismatches)`);
process.exit(failures === 0 ? 0 : 1);
