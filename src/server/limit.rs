//! The cap on open client connections (README, "Connections"): a slot per connection, and at the
//! cap, the idle connection that has waited longest closed to make room; a request under way is
//! never cut short. Also the file-descriptor limit the cap must fit in, and the warnings that say
//! the server is at its limits without flooding the log.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    sync::{Notify, OwnedSemaphorePermit, Semaphore},
    time::Instant,
};

/// File descriptors kept for everything but client connections: the listeners, the log, the
/// PostgreSQL pool (added to this), the files a process opens.
const RESERVED_FDS: u64 = 64;

/// The open client connections, at most `cap` of them.
pub(super) struct Connections {
    slots: Arc<Semaphore>,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    /// Told whenever a connection is left with no request under way.
    became_idle: Arc<Notify>,
    epoch: Instant,
    at_cap: EveryMinute,
}

/// What a connection is doing, as its stream sees it.
pub(super) struct Activity {
    /// When the connection was last left with no request under way, in nanoseconds since the
    /// epoch, plus one; 0 while a request is under way.
    idle_since: AtomicU64,
    /// Whether it has been asked to close.
    closing: AtomicBool,
    close: Notify,
    became_idle: Arc<Notify>,
    epoch: Instant,
}

impl Activity {
    /// An activity no cap watches: for a stream on its own (the metrics listener's, the tests').
    pub(super) fn unwatched() -> Arc<Self> {
        Arc::new(Self::new(Instant::now(), Arc::new(Notify::new())))
    }

    fn new(epoch: Instant, became_idle: Arc<Notify>) -> Self {
        let activity = Self {
            idle_since: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            close: Notify::new(),
            became_idle,
            epoch,
        };
        activity.idle();
        activity
    }

    /// A request's first byte came in.
    pub(super) fn busy(&self) {
        self.idle_since.store(0, Ordering::Relaxed);
    }

    /// The response went out (or the connection was just accepted): no request under way.
    pub(super) fn idle(&self) {
        let since = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.idle_since.store(since + 1, Ordering::Relaxed);
        self.became_idle.notify_waiters();
    }

    /// Completes when the cap asks this connection to close to make room.
    pub(super) async fn closing(&self) {
        self.close.notified().await;
    }
}

/// A connection's place under the cap: freed when the connection ends.
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
    id: u64,
    connections: Arc<Connections>,
    pub(super) activity: Arc<Activity>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.id);
    }
}

impl Connections {
    pub(super) fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(cap)),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            became_idle: Arc::new(Notify::new()),
            epoch: Instant::now(),
            at_cap: EveryMinute::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a connection just accepted, if one is free.
    pub(super) fn try_slot(self: &Arc<Self>) -> Option<Slot> {
        let permit = Arc::clone(&self.slots).try_acquire_owned().ok()?;
        Some(self.register(permit))
    }

    /// A slot for a connection accepted at the cap: the idle connection that has waited longest
    /// is asked to close, and the slot is the one it frees (or any freed first); while every
    /// connection is busy, the wait goes on until one ends, or falls idle and is asked in turn.
    /// One connection is asked at a time. (Meanwhile the server accepts nothing more: new
    /// connections wait in the kernel's queue.)
    pub(super) async fn slot(self: Arc<Self>) -> Slot {
        if self.at_cap.ready() {
            tracing::warn!(
                cap = self.slots_total(),
                "at the connection cap: closing idle connections to make room, new ones wait"
            );
        }
        loop {
            if let Some(slot) = self.try_slot() {
                return slot;
            }
            let idle = self.became_idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.close_the_longest_idle() {
                // Its slot, once it has closed (after the request it may have begun meanwhile).
                if let Ok(permit) = Arc::clone(&self.slots).acquire_owned().await {
                    return self.register(permit);
                }
            } else {
                tokio::select! {
                    permit = Arc::clone(&self.slots).acquire_owned() => {
                        if let Ok(permit) = permit {
                            return self.register(permit);
                        }
                    }
                    () = idle => {}
                }
            }
        }
    }

    fn slots_total(&self) -> usize {
        self.lock().len() + self.slots.available_permits()
    }

    fn register(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Slot {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new(self.epoch, Arc::clone(&self.became_idle)));
        self.lock().insert(id, Arc::clone(&activity));
        Slot {
            _permit: permit,
            id,
            connections: Arc::clone(self),
            activity,
        }
    }

    /// Asks the connection idle the longest, of those not asked already, to close; whether there
    /// was one.
    fn close_the_longest_idle(&self) -> bool {
        let open = self.lock();
        let longest = open
            .values()
            .filter(|activity| !activity.closing.load(Ordering::Relaxed))
            .filter_map(|activity| {
                let since = activity.idle_since.load(Ordering::Relaxed);
                (since != 0).then_some((since, activity))
            })
            .min_by_key(|(since, _)| *since);
        let Some((_, activity)) = longest else {
            return false;
        };
        activity.closing.store(true, Ordering::Relaxed);
        activity.close.notify_one();
        true
    }
}

/// True at most once a minute: for warnings that would otherwise flood the log.
#[derive(Default)]
pub(super) struct EveryMinute(Mutex<Option<Instant>>);

impl EveryMinute {
    pub(super) fn ready(&self) -> bool {
        let mut last = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if last.is_some_and(|last| now.duration_since(last) < Duration::from_secs(60)) {
            return false;
        }
        *last = Some(now);
        true
    }
}

/// Raises the soft limit on open files to the hard one (as Go does at start), and returns the cap
/// on connections that fits in it: `wanted`, or less, leaving room for `pool_size` database
/// connections and `RESERVED_FDS`.
pub(crate) fn fit_cap(wanted: u64, pool_size: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let mut soft = limit.current;
    if let Some(hard) = limit.maximum
        && limit.current.is_some_and(|current| current < hard)
    {
        let raised = Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => soft = Some(hard),
            Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
        }
    }
    let Some(soft) = soft else {
        return wanted;
    };
    let room = soft.saturating_sub(RESERVED_FDS + pool_size).max(1);
    if room < wanted {
        tracing::warn!(
            wanted,
            cap = room,
            open_file_limit = soft,
            "--max-connections lowered to fit the open-file limit"
        );
    }
    wanted.min(room)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_the_longest_idle_connection_is_asked_to_close() {
        let connections = Connections::new(3);
        let first = connections.try_slot().expect("a slot");
        tokio::time::advance(Duration::from_millis(5)).await;
        let second = connections.try_slot().expect("a slot");
        tokio::time::advance(Duration::from_millis(5)).await;
        let third = connections.try_slot().expect("a slot");
        assert!(connections.try_slot().is_none(), "at the cap");

        // The first is serving a request; of the idle two, the second has waited longest.
        first.activity.busy();
        third.activity.idle();
        let waiting = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move { connections.slot().await }
        });
        tokio::task::yield_now().await;
        let asked = tokio::time::timeout(Duration::from_millis(1), second.activity.closing()).await;
        assert!(asked.is_ok(), "the longest idle is asked to close");
        let untouched =
            tokio::time::timeout(Duration::from_millis(1), first.activity.closing()).await;
        assert!(untouched.is_err(), "a busy connection is never asked");
        assert!(!waiting.is_finished(), "no slot until one is freed");
        drop(second);
        let slot = waiting.await.expect("a slot");
        assert_eq!(connections.lock().len(), 3);
        drop((first, third, slot));
        assert_eq!(connections.slots.available_permits(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn while_every_connection_is_busy_the_new_one_waits_for_one_to_fall_idle() {
        let connections = Connections::new(1);
        let only = connections.try_slot().expect("a slot");
        only.activity.busy();
        let waiting = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move { connections.slot().await }
        });
        tokio::task::yield_now().await;
        let asked = tokio::time::timeout(Duration::from_millis(1), only.activity.closing()).await;
        assert!(asked.is_err(), "not while it serves a request");
        only.activity.idle();
        tokio::task::yield_now().await;
        let asked = tokio::time::timeout(Duration::from_millis(1), only.activity.closing()).await;
        assert!(asked.is_ok(), "once idle, it is asked to close");
        drop(only);
        waiting.await.expect("a slot");
    }

    #[tokio::test(start_paused = true)]
    async fn one_idle_connection_is_asked_at_a_time() {
        let connections = Connections::new(2);
        let first = connections.try_slot().expect("a slot");
        tokio::time::advance(Duration::from_millis(5)).await;
        let second = connections.try_slot().expect("a slot");
        let waiting = tokio::spawn(Arc::clone(&connections).slot());
        tokio::task::yield_now().await;
        let asked = tokio::time::timeout(Duration::from_millis(1), first.activity.closing()).await;
        assert!(asked.is_ok(), "the longest idle is asked");
        // Another response goes out while the first is closing: no second connection is asked.
        second.activity.busy();
        second.activity.idle();
        tokio::task::yield_now().await;
        let asked = tokio::time::timeout(Duration::from_millis(1), second.activity.closing()).await;
        assert!(asked.is_err(), "one at a time");
        drop(first);
        let slot = waiting.await.expect("the first's slot");
        drop((second, slot));
    }

    #[tokio::test(start_paused = true)]
    async fn a_warning_is_ready_once_a_minute() {
        let warnings = EveryMinute::default();
        assert!(warnings.ready());
        assert!(!warnings.ready());
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(!warnings.ready());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(warnings.ready());
    }

    #[test]
    fn the_cap_fits_the_open_file_limit() {
        assert_eq!(fit_cap(10, 4), 10);
        let raised = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(
            raised.current, raised.maximum,
            "the soft limit is the hard one"
        );
        let soft = raised.current.expect("a limit");
        assert_eq!(fit_cap(u64::MAX, 4), soft - RESERVED_FDS - 4);
    }
}
