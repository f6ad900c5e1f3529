//! The nRF52840-DK (PCA10056) peripherals this firmware uses.
//!
//! - LED1 (P0.13) and LED2 (P0.14) are the rule's `gpio` pins 0 and 1, Button 1 (P0.11) its
//!   pin 2 (the DK's schematic: LEDs and buttons are active low, the buttons need the chip's
//!   pull-up). [`ActiveLow`] turns them around so that, as on every Palisade board, `1` means
//!   LED on and button pressed.
//! - TIMER1, 32-bit at 1 MHz (16 MHz / 2⁴, from the DK's 32 MHz crystal), widened to 64 bits, is
//!   the monotonic clock; its compare channel 1 wakes the core from `wfi` at the next period.

use embedded_hal::digital::{ErrorKind, ErrorType, InputPin, OutputPin};
use nrf52840_hal::clocks::Clocks;
use nrf52840_hal::gpio::{Input, Level, Output, Pin, PullUp, PushPull, p0};
use nrf52840_hal::pac::{self, Interrupt, NVIC};
use palisade_board_common::{BoardGpio, Layout};
use palisade_mcu::{MonotonicTimer, PinSet, Widen32};

/// Ticks per second of TIMER1 (prescaler 4: 16 MHz / 16).
const TIMER_HZ: u32 = 1_000_000;
const TIMER_PRESCALER: u8 = 4;
/// The longest single sleep, in ticks: well under the 32-bit counter's wrap, so the compare
/// value is always ahead of the counter when it is armed.
const MAX_SLEEP_TICKS: u64 = 1 << 30;

/// An embedded-hal pin whose level is inverted: the DK's LEDs light and its buttons read low
/// when active.
#[derive(Debug)]
pub struct ActiveLow<P>(P);

impl<P: ErrorType> ErrorType for ActiveLow<P> {
    type Error = P::Error;
}

impl<P: OutputPin> OutputPin for ActiveLow<P> {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.0.set_high()
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.0.set_low()
    }
}

impl<P: InputPin> InputPin for ActiveLow<P> {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        self.0.is_low()
    }

    fn is_low(&mut self) -> Result<bool, Self::Error> {
        self.0.is_high()
    }
}

/// Why an LED could not be driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedError {
    /// The board has no LED with this number, or it was handed out already.
    Unwired,
}

impl embedded_hal::digital::Error for LedError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

/// One of the DK's LEDs, as the control loop holds it. `Board::led` hands each LED out once;
/// an LED asked for twice, or one the DK does not have, fails every write (the `gpio`
/// capability then answers the guest `HOST`) instead of panicking.
pub struct Led(Option<ActiveLow<Pin<Output<PushPull>>>>);

impl ErrorType for Led {
    type Error = LedError;
}

impl OutputPin for Led {
    fn set_low(&mut self) -> Result<(), LedError> {
        let pin = self.0.as_mut().ok_or(LedError::Unwired)?;
        pin.set_low().map_err(|_| LedError::Unwired)
    }

    fn set_high(&mut self) -> Result<(), LedError> {
        let pin = self.0.as_mut().ok_or(LedError::Unwired)?;
        pin.set_high().map_err(|_| LedError::Unwired)
    }
}

fn timer1() -> &'static pac::timer0::RegisterBlock {
    // SAFETY: TIMER1's register block is always mapped. Only `Timer1` (the main loop) and the
    // TIMER1 interrupt (which only clears EVENTS_COMPARE[1]) touch it.
    unsafe { &*pac::TIMER1::ptr() }
}

/// Clears the compare event that woke the core (TIMER1's interrupt handler, main.rs).
pub fn clear_timer1_compare() {
    let t = timer1();
    t.events_compare[1].reset();
    // Read the event back so the write has reached the peripheral before the handler returns;
    // otherwise the interrupt may fire once more (a spurious wake the loop would only re-check).
    let _ = t.events_compare[1].read().bits();
}

/// TIMER1, free-running, as a 64-bit monotonic tick count.
pub struct Timer1 {
    widen: Widen32,
}

impl Timer1 {
    /// Starts TIMER1 (called once, by `Board::timer`); the `Dk` owns its peripheral handle.
    fn start(_timer: &mut pac::TIMER1) -> Self {
        let t = timer1();
        t.tasks_stop.write(|w| w.tasks_stop().set_bit());
        t.mode.write(|w| w.mode().timer());
        t.bitmode.write(|w| w.bitmode()._32bit());
        // SAFETY: 4 is a valid prescaler (0-9).
        t.prescaler
            .write(|w| unsafe { w.prescaler().bits(TIMER_PRESCALER) });
        t.events_compare[1].reset();
        t.intenset.write(|w| w.compare1().set());
        t.tasks_clear.write(|w| w.tasks_clear().set_bit());
        t.tasks_start.write(|w| w.tasks_start().set_bit());
        Self {
            widen: Widen32::new(),
        }
    }

    fn raw(&self) -> u32 {
        let t = timer1();
        t.tasks_capture[0].write(|w| w.tasks_capture().set_bit());
        t.cc[0].read().bits()
    }
}

impl MonotonicTimer for Timer1 {
    fn tick_hz(&self) -> u32 {
        TIMER_HZ
    }

    fn ticks(&self) -> u64 {
        self.widen.widen(self.raw())
    }
}

/// The nRF52840-DK as the shared control loop sees it.
pub struct Dk {
    leds: [Option<ActiveLow<Pin<Output<PushPull>>>>; 2],
    button: Option<ActiveLow<Pin<Input<PullUp>>>>,
    timer: pac::TIMER1,
}

impl Dk {
    /// Takes the pins and the timer; starts the 32 MHz crystal (the timer's clock).
    pub fn new(p: pac::Peripherals) -> Self {
        // Dropping the handle leaves the crystal running.
        let _ = Clocks::new(p.CLOCK).enable_ext_hfosc();
        let port = p0::Parts::new(p.P0);
        // LEDs start off (high: active low), before the control loop writes them.
        let led1 = port.p0_13.into_push_pull_output(Level::High).degrade();
        let led2 = port.p0_14.into_push_pull_output(Level::High).degrade();
        let button1 = port.p0_11.into_pullup_input().degrade();
        Self {
            leds: [Some(ActiveLow(led1)), Some(ActiveLow(led2))],
            button: Some(ActiveLow(button1)),
            timer: p.TIMER1,
        }
    }
}

impl palisade_board_common::Board for Dk {
    type Timer = Timer1;
    type Led = Led;
    const LAYOUT: Layout = crate::LAYOUT;

    fn timer(&mut self) -> Timer1 {
        let timer = Timer1::start(&mut self.timer);
        // SAFETY: TIMER1's handler (main.rs) only clears its compare event.
        unsafe { NVIC::unmask(Interrupt::TIMER1) };
        timer
    }

    fn led(&mut self, n: u8) -> Led {
        Led(self.leds.get_mut(usize::from(n)).and_then(Option::take))
    }

    fn led_register(&self) -> u32 {
        // The scenario checks read this; a product build never does. Report what was written.
        // SAFETY: reading P0's OUT register has no side effect.
        let out = unsafe { (*pac::P0::ptr()).out.read().bits() };
        u32::from(out & (1 << 13) == 0) | u32::from(out & (1 << 14) == 0) << 1
    }

    fn stack(&self) -> (usize, usize) {
        // cortex-m-rt's linker symbols: the stack grows down from `_stack_start` to `_stack_end`.
        unsafe extern "C" {
            static _stack_start: u8;
            static _stack_end: u8;
        }
        (
            core::ptr::addr_of!(_stack_end) as usize,
            core::ptr::addr_of!(_stack_start) as usize,
        )
    }

    fn wait_until(&mut self, timer: &Timer1, due: u64) {
        loop {
            let now = timer.ticks();
            if now >= due {
                break;
            }
            let target = now + (due - now).min(MAX_SLEEP_TICKS);
            // With interrupts masked, arming the compare and checking the clock cannot race the
            // interrupt: a compare that matches before `wfi` leaves TIMER1 pending, and a
            // pending interrupt ends `wfi` even while masked. The handler runs on `enable`.
            cortex_m::interrupt::disable();
            let t = timer1();
            t.events_compare[1].reset();
            // SAFETY: any 32-bit value is a valid compare value.
            t.cc[1].write(|w| unsafe { w.bits(target as u32) });
            if timer.ticks() < target {
                cortex_m::asm::wfi();
            }
            // SAFETY: nothing here relies on interrupts staying masked.
            unsafe { cortex_m::interrupt::enable() };
        }
    }

    fn add_inputs(&mut self, gpio: &BoardGpio) -> PinSet {
        match self.button.take().map(|button| gpio.add_input(2, button)) {
            Some(Ok(())) => PinSet::of(&[2]),
            _ => PinSet::EMPTY,
        }
    }
}
