//! The MPS2 AN386 peripherals this firmware uses, as QEMU 7.2 models them.
//!
//! - FPGAIO `LED0` register (0x4002_8000, bits 0-1): the one GPIO-like output QEMU emulates
//!   (the CMSDK GPIO block at 0x4001_0000 is not). Each bit is wrapped as an embedded-hal
//!   `OutputPin`.
//! - CMSDK APB timer 0 (0x4000_0000): a 32-bit down-counter at the 25 MHz peripheral clock,
//!   widened to 64 bits for the monotonic clock.

use core::convert::Infallible;
use core::ptr::{read_volatile, write_volatile};

use palisade_mcu::{MonotonicTimer, Widen32};

/// FPGAIO LED0 register.
pub const LED_REGISTER: usize = 0x4002_8000;
/// CMSDK APB timer 0.
const TIMER0: usize = 0x4000_0000;
/// CMSDK APB timer 1: wakes the core from `wfi` at the next period.
const TIMER1: usize = 0x4000_1000;
/// Timer 1's interrupt on the AN386 (QEMU `hw/arm/mps2.c`: timer 0 is IRQ 8, timer 1 IRQ 9).
const TIMER1_IRQ: u32 = 9;
/// NVIC interrupt set-enable register 0.
const NVIC_ISER0: usize = 0xE000_E100;
/// Timer 1's reload after it fired: if it fires between the loop's check and its `wfi`, it
/// fires again 10 µs later instead of never.
const REFIRE_TICKS: u32 = 250;

/// Starts timer 1 to interrupt in `ticks`, then every [`REFIRE_TICKS`].
fn arm_timer1(ticks: u32) {
    let base = TIMER1 as *mut u32;
    // SAFETY: CMSDK timer registers CTRL (+0), VALUE (+4), RELOAD (+8), INTCLEAR (+12); only
    // this driver and its interrupt handler touch timer 1.
    unsafe {
        write_volatile(base, 0);
        write_volatile(base.add(3), 1);
        write_volatile(base.add(2), REFIRE_TICKS);
        write_volatile(base.add(1), ticks);
        write_volatile(base, 1 | 8);
    }
}

/// Clears timer 1's interrupt, leaving it counting from [`REFIRE_TICKS`] (its interrupt handler).
pub fn clear_timer1() {
    // SAFETY: INTCLEAR (+12), as in `arm_timer1`.
    unsafe { write_volatile((TIMER1 + 12) as *mut u32, 1) };
}

/// Stops timer 1 and clears its interrupt.
fn stop_timer1() {
    let base = TIMER1 as *mut u32;
    // SAFETY: as in `arm_timer1`.
    unsafe {
        write_volatile(base, 0);
        write_volatile(base.add(3), 1);
    }
}
/// Peripheral clock of the timers (QEMU: `sysclk_frq` of the AN386).
pub const TIMER_HZ: u32 = 25_000_000;

/// Reads the LED register (bits 0-1).
pub fn led_register() -> u32 {
    // SAFETY: an aligned, always-mapped device register; reading has no side effect.
    unsafe { read_volatile(LED_REGISTER as *const u32) }
}

fn set_led_bits(mask: u32, on: bool) {
    let ptr = LED_REGISTER as *mut u32;
    // SAFETY: device register; the firmware is single-threaded and no interrupt touches it,
    // so the read-modify-write cannot race.
    unsafe {
        let v = read_volatile(ptr);
        write_volatile(ptr, if on { v | mask } else { v & !mask });
    }
}

/// One LED (bit `0` or `1` of the LED register) as an embedded-hal output pin.
#[derive(Debug)]
pub struct LedPin(u8);

impl LedPin {
    /// LED `n` (0 or 1).
    pub const fn new(n: u8) -> Self {
        Self(n)
    }
}

impl embedded_hal::digital::ErrorType for LedPin {
    type Error = Infallible;
}

impl embedded_hal::digital::OutputPin for LedPin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        set_led_bits(1 << self.0, false);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        set_led_bits(1 << self.0, true);
        Ok(())
    }
}

/// The CMSDK timer 0, free-running, as a 64-bit monotonic tick count.
pub struct Timer0 {
    widen: Widen32,
}

impl Timer0 {
    /// Starts timer 0 counting down from `u32::MAX`, reloading on wrap, no interrupt.
    pub fn start() -> Self {
        let base = TIMER0 as *mut u32;
        // SAFETY: CMSDK timer registers CTRL (+0), VALUE (+4), RELOAD (+8); only this driver
        // touches timer 0.
        unsafe {
            write_volatile(base, 0);
            write_volatile(base.add(2), u32::MAX);
            write_volatile(base.add(1), u32::MAX);
            write_volatile(base, 1);
        }
        Self {
            widen: Widen32::new(),
        }
    }
}

impl MonotonicTimer for Timer0 {
    fn tick_hz(&self) -> u32 {
        TIMER_HZ
    }

    fn ticks(&self) -> u64 {
        // SAFETY: reading VALUE (+4) has no side effect.
        let value = unsafe { read_volatile((TIMER0 + 4) as *const u32) };
        self.widen.widen(u32::MAX - value)
    }
}

/// The MPS2 AN386 as the shared control loop sees it.
pub struct Mps2;

impl palisade_board_common::Board for Mps2 {
    type Timer = Timer0;
    type Led = LedPin;
    const LAYOUT: palisade_board_common::Layout = crate::LAYOUT;

    fn timer(&mut self) -> Timer0 {
        stop_timer1();
        // SAFETY: enabling timer 1's interrupt, whose handler (main.rs) only clears it,
        // and then interrupts: no other interrupt is enabled.
        unsafe {
            write_volatile(NVIC_ISER0 as *mut u32, 1 << TIMER1_IRQ);
            cortex_m::interrupt::enable();
        }
        Timer0::start()
    }

    fn led(&mut self, n: u8) -> LedPin {
        LedPin::new(n)
    }

    fn led_register(&self) -> u32 {
        led_register()
    }

    fn wait_until(&mut self, timer: &Timer0, due: u64) {
        loop {
            let now = timer.ticks();
            if now >= due {
                break;
            }
            arm_timer1(u32::try_from(due - now).unwrap_or(u32::MAX));
            cortex_m::asm::wfi();
        }
        stop_timer1();
    }

    fn stack(&self) -> (usize, usize) {
        // cortex-m-rt's linker symbols: the stack grows down from `_stack_start` to `_stack_end`
        // (the end of .bss).
        unsafe extern "C" {
            static _stack_start: u8;
            static _stack_end: u8;
        }
        (
            core::ptr::addr_of!(_stack_end) as usize,
            core::ptr::addr_of!(_stack_start) as usize,
        )
    }
}
