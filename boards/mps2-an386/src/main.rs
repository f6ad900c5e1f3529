//! Palisade on the Arm MPS2 AN386 (Cortex-M4F) under QEMU.
//!
//! The control loop, the scenario harness and the heap are shared with every QEMU board
//! (`boards/common`, [`palisade_board_common::run`]); this firmware supplies the AN386's timer,
//! its LED register and its flash layout ([`board`]).
#![no_std]
#![no_main]

mod board;

use cortex_m as _; // the critical-section implementation
use cortex_m_rt::entry;
use defmt_semihosting as _;
use palisade_board_common::{Layout, Verdict};

/// Flash layout (memory.x keeps the firmware below 0x0030_0000).
const LAYOUT: Layout = Layout {
    active_slot: 0x0030_0000,
    fallback_slot: 0x0038_0000,
    slot_bytes: 0x7_F000,
    scenario: 0x003F_F000,
};

#[entry]
fn main() -> ! {
    palisade_board_common::exit(palisade_board_common::run(board::Mps2))
}

/// Timer 1's interrupt (the only one enabled) wakes `wfi` in `Board::wait_until`.
#[cortex_m_rt::exception]
unsafe fn DefaultHandler(_irqn: i16) {
    board::clear_timer1();
}

#[cortex_m_rt::exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    semihosting::process::exit(Verdict::HardFault as i32)
}
