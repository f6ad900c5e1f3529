# gdb-multiarch script (Python): which call sites hold the heap at its high-water mark.
#
# Loaded by heap-sites.sh. Breaks on the firmware's allocator (CountingHeap::alloc/dealloc in
# boards/common/src/heap.rs), keeps the live allocations with a backtrace for every one of at
# least BIG bytes, and at the semihosting exit prints what was live at the high-water mark,
# largest first. Sizes are what Rust asked for, as the counting heap counts them.
import gdb

BIG = 200
live = {}  # address -> (size, backtrace or None)
state = {"used": 0, "peak": 0, "snapshot": [], "allocs": 0}
returns = {}


def reg(name):
    return int(gdb.parse_and_eval("$" + name)) & 0xFFFFFFFF


def backtrace(depth=30):
    frames = []
    frame = gdb.newest_frame()
    while frame is not None and len(frames) < depth:
        sal = frame.find_sal()
        where = ""
        if sal.symtab:
            where = "%s:%d" % (sal.symtab.filename.split("/src/")[-1], sal.line)
        frames.append("%s (%s)" % (frame.name() or "?", where))
        try:
            frame = frame.older()
        except gdb.error:
            break
    return frames


class Return(gdb.Breakpoint):
    """At an allocation's return address: r0 is the new block."""

    def __init__(self, address):
        super().__init__("*0x%x" % address, internal=True)
        self.waiting = []

    def stop(self):
        if not self.waiting:
            return False
        size, trace = self.waiting.pop()
        address = reg("r0")
        if address:
            live[address] = (size, trace)
            state["used"] += size
            if state["used"] > state["peak"]:
                state["peak"] = state["used"]
                state["snapshot"] = sorted(live.values(), key=lambda x: -x[0])
        return False


class Alloc(gdb.Breakpoint):
    """CountingHeap::alloc(self, layout): r1 is the size."""

    def stop(self):
        size = reg("r1")
        state["allocs"] += 1
        trace = backtrace() if size >= BIG else None
        ret = reg("lr") & ~1
        if ret not in returns:
            returns[ret] = Return(ret)
        returns[ret].waiting.append((size, trace))
        return False


class Dealloc(gdb.Breakpoint):
    """CountingHeap::dealloc(self, ptr, layout): r0 is the block."""

    def stop(self):
        address = reg("r0")
        if address in live:
            state["used"] -= live.pop(address)[0]
        return False


def interesting(frame):
    name = frame.split(" (")[0]
    return not name.startswith(("alloc::", "core::", "<alloc", "<core", "wasmi_collections::",
                                "palisade_board_common::_::", "palisade_board_common::heap"))


class Exit(gdb.Breakpoint):
    def stop(self):
        snapshot = state["snapshot"]
        small = [s for s, t in snapshot if t is None]
        print("allocations: %d; heap high-water: %d B" % (state["allocs"], state["peak"]))
        print("%7d B in %d allocations under %d B" % (sum(small), len(small), BIG))
        for size, trace in snapshot:
            if trace is not None:
                sites = [f.split(" (")[0] for f in trace if interesting(f)]
                print("%7d B  %s" % (size, "  <-  ".join(sites[:3])))
        return True
