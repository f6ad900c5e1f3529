//! The `gpio` capability: `gpio_write` / `gpio_read` over embedded-hal 1.0 pins, with a pin
//! allowlist per guest (tenant).

use alloc::boxed::Box;
use alloc::sync::Arc;

use embedded_hal::digital::{InputPin, OutputPin};
use palisade::capability::code;
use palisade::wasmi::{self, Caller};
use palisade::{CallState, RuntimeBuilder, charge};

/// The capability name guests are granted (`docs/ABI.md` §4).
pub const CAPABILITY: &str = "gpio";

/// The largest pin number plus one: pins are numbered `0..MAX_PINS` (a [`PinSet`] is a `u32`).
pub const MAX_PINS: u8 = 32;

/// Fuel prices of the `gpio` functions (`docs/ABI.md` §4).
pub mod price {
    /// `gpio_write`
    pub const GPIO_WRITE: u64 = 50;
    /// `gpio_read`
    pub const GPIO_READ: u64 = 50;
}

/// A set of pin numbers (`0..MAX_PINS`): a guest's allowlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PinSet(pub u32);

impl PinSet {
    /// No pins: what a guest may touch until it is allowed some.
    pub const EMPTY: PinSet = PinSet(0);

    /// The set of `pins`; numbers at or above [`MAX_PINS`] are ignored.
    pub const fn of(pins: &[u8]) -> PinSet {
        let mut bits = 0u32;
        let mut rest = pins;
        while let [p, tail @ ..] = rest {
            if *p < MAX_PINS {
                bits |= 1 << *p;
            }
            rest = tail;
        }
        PinSet(bits)
    }

    /// Whether `pin` is in the set.
    pub const fn contains(self, pin: u8) -> bool {
        pin < MAX_PINS && self.0 & (1 << pin) != 0
    }
}

/// Why a GPIO bank could not be configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum GpioError {
    /// The pin number is not below [`MAX_PINS`].
    PinOutOfRange(u8),
    /// The pin number is already configured.
    PinTaken(u8),
    /// The bank holds `PINS` pins already; build it with a larger `PINS`.
    BankFull,
    /// The allowlist table holds `GUESTS` guests already; build it with a larger `GUESTS`.
    AllowlistFull,
    /// A tenant id longer than [`MAX_TENANT_ID`] bytes.
    TenantIdTooLong,
}

/// The longest tenant id an allowlist entry can name.
pub const MAX_TENANT_ID: usize = 32;

trait DynOutput: Send {
    fn set(&mut self, high: bool) -> bool;
}

impl<P: OutputPin + Send> DynOutput for P {
    fn set(&mut self, high: bool) -> bool {
        let r = if high {
            self.set_high()
        } else {
            self.set_low()
        };
        r.is_ok()
    }
}

trait DynInput: Send {
    fn get(&mut self) -> Option<bool>;
}

impl<P: InputPin + Send> DynInput for P {
    fn get(&mut self) -> Option<bool> {
        self.is_high().ok()
    }
}

enum Slot {
    /// An output and the last level written to it (what `gpio_read` reports).
    Output(Box<dyn DynOutput>, bool),
    Input(Box<dyn DynInput>),
}

struct Inner<const PINS: usize, const GUESTS: usize> {
    pins: heapless::Vec<(u8, Slot), PINS>,
    allow: heapless::Vec<(heapless::String<MAX_TENANT_ID>, PinSet), GUESTS>,
}

/// A bank of up to `PINS` embedded-hal pins and the allowlists of up to `GUESTS` tenants.
///
/// Cheap to clone (the pins live behind an `Arc`); the clone registered with the runtime and
/// the one the board keeps are the same bank. Pins are boxed once, at configuration; calls do
/// not allocate.
///
/// # Limitations with malicious guests
///
/// A guest may toggle an allowed pin as fast as its fuel allows (50 fuel per call): if the
/// hardware behind a pin must not toggle fast, rate-limit in the pin driver.
pub struct Gpio<const PINS: usize = 8, const GUESTS: usize = 4> {
    inner: Arc<spin::Mutex<Inner<PINS, GUESTS>>>,
}

impl<const PINS: usize, const GUESTS: usize> Clone for Gpio<PINS, GUESTS> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<const PINS: usize, const GUESTS: usize> Default for Gpio<PINS, GUESTS> {
    fn default() -> Self {
        Self::new()
    }
}

/// What a `gpio_write` / `gpio_read` call answers, before it becomes an ABI code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Level(bool),
    Code(i32),
}

impl<const PINS: usize, const GUESTS: usize> Gpio<PINS, GUESTS> {
    /// An empty bank: no pins, no guest allowed anything.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(spin::Mutex::new(Inner {
                pins: heapless::Vec::new(),
                allow: heapless::Vec::new(),
            })),
        }
    }

    fn add(&self, pin: u8, slot: Slot) -> Result<(), GpioError> {
        if pin >= MAX_PINS {
            return Err(GpioError::PinOutOfRange(pin));
        }
        let mut inner = self.inner.lock();
        if inner.pins.iter().any(|(p, _)| *p == pin) {
            return Err(GpioError::PinTaken(pin));
        }
        inner
            .pins
            .push((pin, slot))
            .map_err(|_| GpioError::BankFull)
    }

    /// Adds output `pin`, driven by `out`. It starts low as far as `gpio_read` is concerned.
    ///
    /// # Errors
    ///
    /// [`GpioError::PinOutOfRange`], [`GpioError::PinTaken`] or [`GpioError::BankFull`].
    pub fn add_output<P: OutputPin + Send + 'static>(
        &self,
        pin: u8,
        out: P,
    ) -> Result<(), GpioError> {
        self.add(pin, Slot::Output(Box::new(out), false))
    }

    /// Adds input `pin`, read from `input`.
    ///
    /// # Errors
    ///
    /// [`GpioError::PinOutOfRange`], [`GpioError::PinTaken`] or [`GpioError::BankFull`].
    pub fn add_input<P: InputPin + Send + 'static>(
        &self,
        pin: u8,
        input: P,
    ) -> Result<(), GpioError> {
        self.add(pin, Slot::Input(Box::new(input)))
    }

    /// Sets the pins `tenant`'s guests may use (replacing any earlier set). Deny by default: a
    /// tenant without an entry gets `DENIED` for every pin.
    ///
    /// # Errors
    ///
    /// [`GpioError::TenantIdTooLong`] or [`GpioError::AllowlistFull`].
    pub fn allow(&self, tenant: &str, pins: PinSet) -> Result<(), GpioError> {
        let mut inner = self.inner.lock();
        if let Some(entry) = inner.allow.iter_mut().find(|(t, _)| t.as_str() == tenant) {
            entry.1 = pins;
            return Ok(());
        }
        let mut id = heapless::String::new();
        id.push_str(tenant)
            .map_err(|()| GpioError::TenantIdTooLong)?;
        inner
            .allow
            .push((id, pins))
            .map_err(|_| GpioError::AllowlistFull)
    }

    /// The pins `tenant` may use.
    pub fn allowed(&self, tenant: &str) -> PinSet {
        let inner = self.inner.lock();
        allowed_in(&inner, tenant)
    }

    /// The level last written to output `pin` (by a guest or by [`Gpio::write`]), or the level
    /// read from input `pin`; `None` for an unconfigured pin or a failed read.
    pub fn level(&self, pin: u8) -> Option<bool> {
        let mut inner = self.inner.lock();
        match inner.pins.iter_mut().find(|(p, _)| *p == pin) {
            Some((_, Slot::Output(_, level))) => Some(*level),
            Some((_, Slot::Input(input))) => input.get(),
            None => None,
        }
    }

    /// Drives output `pin` from the host (for example to a safe level when no rule runs).
    /// Returns whether the pin exists, is an output and accepted the level.
    pub fn write(&self, pin: u8, high: bool) -> bool {
        let mut inner = self.inner.lock();
        write_in(&mut inner, pin, high) == Access::Level(high)
    }

    fn guest_write(&self, tenant: &str, pin: i32, level: i32) -> i32 {
        let (Ok(pin), Ok(high)) = (u8::try_from(pin), level_of(level)) else {
            return code::INVALID;
        };
        if pin >= MAX_PINS {
            return code::INVALID;
        }
        let mut inner = self.inner.lock();
        if !allowed_in(&inner, tenant).contains(pin) {
            return code::DENIED;
        }
        match write_in(&mut inner, pin, high) {
            Access::Level(_) => 0,
            Access::Code(c) => c,
        }
    }

    fn guest_read(&self, tenant: &str, pin: i32) -> i32 {
        let Ok(pin) = u8::try_from(pin) else {
            return code::INVALID;
        };
        if pin >= MAX_PINS {
            return code::INVALID;
        }
        let mut inner = self.inner.lock();
        if !allowed_in(&inner, tenant).contains(pin) {
            return code::DENIED;
        }
        match inner.pins.iter_mut().find(|(p, _)| *p == pin) {
            Some((_, Slot::Output(_, level))) => i32::from(*level),
            Some((_, Slot::Input(input))) => input.get().map_or(code::HOST, i32::from),
            None => code::INVALID,
        }
    }

    /// Registers `gpio_write` and `gpio_read` under capability [`CAPABILITY`], exactly as
    /// `docs/ABI.md` §4 specifies (prices in [`price`]).
    pub fn register(&self, builder: RuntimeBuilder) -> RuntimeBuilder {
        let w = self.clone();
        let r = self.clone();
        builder
            .host_func(
                CAPABILITY,
                "gpio_write",
                move |mut caller: Caller<'_, CallState>,
                      pin: i32,
                      level: i32|
                      -> Result<i32, wasmi::Error> {
                    charge(&mut caller, price::GPIO_WRITE)?;
                    Ok(w.guest_write(caller.data().tenant(), pin, level))
                },
            )
            .host_func(
                CAPABILITY,
                "gpio_read",
                move |mut caller: Caller<'_, CallState>, pin: i32| -> Result<i32, wasmi::Error> {
                    charge(&mut caller, price::GPIO_READ)?;
                    Ok(r.guest_read(caller.data().tenant(), pin))
                },
            )
    }
}

fn level_of(level: i32) -> Result<bool, ()> {
    match level {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(()),
    }
}

fn allowed_in<const P: usize, const G: usize>(inner: &Inner<P, G>, tenant: &str) -> PinSet {
    inner
        .allow
        .iter()
        .find(|(t, _)| t.as_str() == tenant)
        .map_or(PinSet::EMPTY, |(_, set)| *set)
}

fn write_in<const P: usize, const G: usize>(
    inner: &mut Inner<P, G>,
    pin: u8,
    high: bool,
) -> Access {
    match inner.pins.iter_mut().find(|(p, _)| *p == pin) {
        Some((_, Slot::Output(out, level))) => {
            if out.set(high) {
                *level = high;
                Access::Level(high)
            } else {
                Access::Code(code::HOST)
            }
        }
        Some((_, Slot::Input(_))) | None => Access::Code(code::INVALID),
    }
}
