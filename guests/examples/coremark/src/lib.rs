//! # coremark: the CoreMark 1.0 kernels, for benchmarks
//!
//! Runs the list, matrix and state kernels of the [`coremark`] crate (a bit-exact port of EEMBC
//! CoreMark 1.0) with the reference performance-run seeds (`0, 0, 0x66`, 2000 bytes of data).
//! The guest links `std` (the `coremark` crate does), so it reports panics with a panic hook.
//! Needs no capability. There is no timer in the guest: the host measures.
//!
//! ## Entry point `run`
//!
//! Input: the iteration count as a `u32` little-endian (4 bytes), or empty for 1 iteration.
//! Output: 8 bytes, four `u16` little-endian CRCs: `crclist`, `crcmatrix`, `crcstate`,
//! `crcfinal`. For the performance seeds the first three are `0xe714`, `0x1fd7`, `0x8e3a`
//! whatever the iteration count (`crcfinal` depends on it).

use coremark::list::core_list_init;
use coremark::matrix::core_init_matrix;
use coremark::state::core_init_state;
use coremark::types::{ALL_ALGORITHMS_MASK, CoreResults, NUM_ALGORITHMS, TOTAL_DATA_SIZE};
use coremark::util::crcu16;
use palisade_guest::GuestError;

fn run(input: &[u8]) -> Result<Vec<u8>, GuestError> {
    std::panic::set_hook(Box::new(|info| {
        palisade_guest::fail_panic(info.payload_as_str(), info.location())
    }));
    let iterations = match input.len() {
        0 => 1,
        4 => u32::from_le_bytes([input[0], input[1], input[2], input[3]]),
        _ => {
            return Err(GuestError::bad_input(
                "expected an iteration count (u32 LE) or nothing",
            ));
        }
    };
    let mut res = CoreResults {
        seed1: 0,
        seed2: 0,
        seed3: 0x66,
        size: TOTAL_DATA_SIZE / NUM_ALGORITHMS,
        iterations,
        execs: ALL_ALGORITHMS_MASK,
        ..Default::default()
    };
    res.list = Some(core_list_init(res.size, res.seed1));
    let combined = i32::from(res.seed1) | (i32::from(res.seed2) << 16);
    core_init_matrix(res.size, combined, &mut res.mat);
    res.state_mem = core_init_state(res.size, res.seed1);

    // `iterate` of core_main.c, as in the crate's `bench::iterate`.
    for i in 0..res.iterations {
        let Some(mut list) = res.list.take() else {
            return Err(GuestError::new(1, "the list was not initialised"));
        };
        let crc = list.bench(&mut res, 1);
        res.crc = crcu16(crc, res.crc);
        let crc = list.bench(&mut res, -1);
        res.crc = crcu16(crc, res.crc);
        res.list = Some(list);
        if i == 0 {
            res.crclist = res.crc;
        }
    }
    let mut out = Vec::with_capacity(8);
    for v in [res.crclist, res.crcmatrix, res.crcstate, res.crc] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

palisade_guest::export!(run);
