//! Crash-injection points for the kill tests.
//!
//! With the `failpoints` feature, `hit("after_claim")` aborts the process (like `kill -9`:
//! no destructors, no flushes) when `INLET_FAILPOINT=after_claim`. Without the feature it
//! compiles to nothing, so release builds carry no such switch.

/// Abort here if the environment names this point.
#[inline]
pub fn hit(name: &str) {
    #[cfg(feature = "failpoints")]
    {
        if std::env::var("INLET_FAILPOINT").is_ok_and(|v| v == name) {
            eprintln!("inlet: failpoint {name} reached, aborting");
            std::process::abort();
        }
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}
