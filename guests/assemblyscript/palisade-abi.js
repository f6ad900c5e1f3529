// An asc transform that adds the `palisade.abi` custom section (docs/ABI.md §1) to the module.
//
// AssemblyScript has no syntax for custom sections, so the SDK adds it at compile time: asc
// calls `afterCompile` with the Binaryen module just before validation and emission, and
// Binaryen's `addCustomSection` writes the section into the binary. Use it with
//
//   asc assembly/thermostat.ts --transform ./palisade-abi.js ...
//
// The payload is the ABI version as a little-endian u32 (version 1).
import { Transform } from "assemblyscript/transform";

/** The ABI version this SDK implements. */
export const ABI_VERSION = 1;

export default class PalisadeAbi extends Transform {
  afterCompile(module) {
    const payload = new Uint8Array(4);
    new DataView(payload.buffer).setUint32(0, ABI_VERSION, true);
    module.addCustomSection("palisade.abi", payload);
  }
}
