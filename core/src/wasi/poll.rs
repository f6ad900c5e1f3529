//! `poll_oneoff`: clock subscriptions only; a sleep counts against the deadline and never
//! blocks past it (`docs/WASI.md`).

use wasmi::Caller;

use crate::host::Instant;
use crate::host_funcs::guest::{charge, trap};
use crate::store::CallState;
use crate::trap::HostTrap;

use super::errno::{INVAL, NOTCAPABLE, SUCCESS};
use super::funcs::{MONOTONIC, REALTIME, Res, get, put, size, split, u32_at, u64_at};
use super::{MAX_SUBSCRIPTIONS, PRICE};

/// Longest single wait of a sleep: between waits the interrupt is checked.
const SLEEP_STEP_NANOS: u64 = 10_000_000;

pub(super) fn poll_oneoff(
    mut caller: Caller<'_, CallState>,
    subs: i32,
    events: i32,
    n: i32,
    nevents: i32,
) -> Res {
    let count = n as u32;
    charge(
        &mut caller,
        PRICE + u64::from(count.min(MAX_SUBSCRIPTIONS)) * 4,
    )?;
    if count == 0 || count > MAX_SUBSCRIPTIONS {
        return Ok(INVAL);
    }
    let (data, state) = split(&mut caller)?;
    let now = state.clock_now();
    let unix = state.shared.clock.unix_time();
    // (userdata, event type, error, wake time for a clock)
    let mut fired: alloc::vec::Vec<(u64, u8, u16)> = alloc::vec::Vec::new();
    let mut clocks: alloc::vec::Vec<(u64, Instant)> = alloc::vec::Vec::new();
    for i in 0..count {
        let at = (subs as u32).wrapping_add(i.wrapping_mul(48));
        let userdata = u64_at(data, at)?;
        let tag = get(data, at.wrapping_add(8), 1)?
            .first()
            .copied()
            .unwrap_or(0);
        if tag != 0 {
            // fd_read / fd_write readiness: outside the profile.
            fired.push((userdata, tag, NOTCAPABLE as u16));
            continue;
        }
        let id = u32_at(data, at.wrapping_add(16))? as i32;
        let timeout = u64_at(data, at.wrapping_add(24))?;
        let flags = get(data, at.wrapping_add(40), 1)?
            .first()
            .copied()
            .unwrap_or(0);
        let wake = if flags & 1 == 0 {
            Instant(now.0.saturating_add(timeout))
        } else if id == REALTIME {
            let from_now =
                unix.map_or(timeout.saturating_sub(now.0), |u| timeout.saturating_sub(u));
            Instant(now.0.saturating_add(from_now))
        } else {
            Instant(timeout)
        };
        if id != REALTIME && id != MONOTONIC {
            fired.push((userdata, 0, INVAL as u16));
            continue;
        }
        clocks.push((userdata, wake));
    }
    if fired.is_empty() {
        let wake = clocks.iter().map(|(_, w)| *w).min().unwrap_or(now);
        // A sleep counts against the deadline and never blocks past it.
        if wake > state.deadline_at {
            return Err(trap(HostTrap::Deadline));
        }
        loop {
            let state = caller.data();
            if state.is_interrupted() {
                return Err(trap(HostTrap::Interrupted));
            }
            let now = state.clock_now();
            if now >= wake {
                break;
            }
            let step = Instant(now.0.saturating_add(SLEEP_STEP_NANOS)).min(wake);
            state.shared.clock.sleep_until(step);
        }
        let now = caller.data().clock_now();
        fired.extend(
            clocks
                .iter()
                .filter(|(_, w)| *w <= now)
                .map(|(u, _)| (*u, 0, 0)),
        );
    }
    let (data, _) = split(&mut caller)?;
    for (i, (userdata, kind, error)) in fired.iter().enumerate() {
        let mut event = [0u8; 32];
        if let Some(u) = event.get_mut(0..8) {
            u.copy_from_slice(&userdata.to_le_bytes());
        }
        if let Some(e) = event.get_mut(8..10) {
            e.copy_from_slice(&error.to_le_bytes());
        }
        if let Some(t) = event.get_mut(10) {
            *t = *kind;
        }
        put(
            data,
            (events as u32).wrapping_add(size(i).wrapping_mul(32)),
            &event,
        )?;
    }
    put(data, nevents as u32, &size(fired.len()).to_le_bytes())?;
    Ok(SUCCESS)
}
