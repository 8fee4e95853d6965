"""The VTA core: fetch, load, compute and store around their queues, buffers and the memory
system (isa-reference §5)."""

from amaranth.hdl import Module
from amaranth.lib import fifo, memory, wiring
from amaranth.lib.wiring import In, Out

from vta.hardware.axi import AxiLiteSignature, Axi4Signature
from vta.hardware.axi_master import ADDR_BITS, AxiMaster
from vta.hardware.compute import Compute
from vta.hardware.acc_memory import SplitOutMemory
from vta.hardware.control import ControlSlave
from vta.hardware.fetch import Fetch
from vta.hardware.layouts import elem_bits
from vta.hardware.load import Load
from vta.hardware.store import Store
from vta.hardware.token_queue import TokenQueue
from vta.isa import Config, MemoryType, Queue
from vta.isa import Module as IsaModule
from vta.isa.opcodes import FLAG_QUEUES, PUSH_FLAGS
from vta.isa.config import INSN_BITS
from vta.isa.machine import READ_CLIENTS
from vta.isa.registers import CONTROL_ADDR_BITS



class VtaCore(wiring.Component):
    """The whole accelerator.

    Ports
    -----
    m_axi : ``Out(Axi4Signature(addr_width=32, data_width=config.bus_bits))``
        The DRAM master.
    s_axi_control : ``In(AxiLiteSignature(addr_width=CONTROL_ADDR_BITS))``
        The control registers (`vta.isa.registers`).
    """

    def __init__(self, *, config: Config):
        config.check_bus()      # the core moves instructions and tiles as whole bus words
        self.config = config
        super().__init__({
            "m_axi": Out(Axi4Signature(addr_width=ADDR_BITS, data_width=config.bus_bits)),
            "s_axi_control": In(AxiLiteSignature(addr_width=CONTROL_ADDR_BITS)),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        m.submodules.control = control = ControlSlave()
        m.submodules.fetch = fetch = Fetch(config=config)
        m.submodules.load = load = Load(config=config)
        m.submodules.compute = compute = Compute(config=config)
        m.submodules.store = store = Store(config=config)
        m.submodules.axi = axi = AxiMaster(config=config, read_clients=READ_CLIENTS)
        wiring.connect(m, wiring.flipped(self.s_axi_control), control.s_axi)
        wiring.connect(m, wiring.flipped(self.m_axi), axi.axi)

        m.d.comb += [fetch.start.eq(control.start), fetch.insn_addr.eq(control.insn_addr),
                     fetch.insn_count.eq(control.insn_count), control.finish.eq(compute.finish)]
        events = {"fetch_busy": fetch.busy, "load_busy": load.busy, "load_stall": load.stall,
                  "compute_busy": compute.busy, "compute_stall": compute.stall,
                  "store_busy": store.busy, "store_stall": store.stall}
        m.d.comb += [getattr(control, name).eq(value) for name, value in events.items()]

        # Command queues.
        for name, source, sink in (("load", fetch.load_cmd, load.insn),
                                   ("compute", fetch.compute_cmd, compute.insn),
                                   ("store", fetch.store_cmd, store.insn)):
            queue = fifo.SyncFIFOBuffered(width=INSN_BITS,
                                         depth=config.machine.command_queue_depth)
            m.submodules[f"{name}_queue"] = queue
            wiring.connect(m, source, queue.w_stream)
            wiring.connect(m, queue.r_stream, sink)

        # Dependency token queues: each from the module whose push flag names it to the one
        # whose pop flag does (FLAG_QUEUES).
        modules = {IsaModule.LOAD: load, IsaModule.COMPUTE: compute, IsaModule.STORE: store}
        ends = {queue: {} for queue in Queue}
        for module, flags in FLAG_QUEUES.items():
            for flag, queue in flags.items():
                ends[queue]["push" if flag in PUSH_FLAGS else "pop"] = modules[module]
        for queue, end in ends.items():
            name = queue.name.lower()
            tokens = TokenQueue(depth=config.machine.token_queue_depth)
            m.submodules[f"{name}_tokens"] = tokens
            wiring.connect(m, getattr(end["push"], name), tokens.push)
            wiring.connect(m, tokens.pop, getattr(end["pop"], name))

        # Buffers shared between modules.
        def buffer(memory_type, writer, reader, granularity=None):
            mem = memory.Memory(shape=elem_bits(config, memory_type),
                                depth=config.depth(memory_type), init=[])
            m.submodules[f"{memory_type.name.lower()}_mem"] = mem
            wiring.connect(m, writer, mem.write_port(granularity=granularity))
            wiring.connect(m, reader, mem.read_port())

        buffer(MemoryType.INP, load.inp_wr, compute.inp_rd, config.bus_bits)
        buffer(MemoryType.WGT, load.wgt_wr, compute.wgt_rd, config.bus_bits)
        if config.machine.overlap_kernels:
            m.submodules.out_mem = out_mem = SplitOutMemory(config=config)
            wiring.connect(m, compute.out_wr, out_mem.gemm_wr)
            wiring.connect(m, compute.out_alu_wr, out_mem.alu_wr)
            wiring.connect(m, store.out_rd, out_mem.rd)
        else:
            buffer(MemoryType.OUT, compute.out_wr, store.out_rd)

        # Memory system.
        for name, client in (("fetch", fetch.rd), ("uop", compute.rd_uop),
                             ("inp", load.rd_inp), ("wgt", load.rd_wgt), ("acc", compute.rd_acc)):
            wiring.connect(m, client, getattr(axi, f"rd_{name}"))
        wiring.connect(m, store.wr, axi.wr)
        return m
