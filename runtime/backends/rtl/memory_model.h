// The memory model of docs/memory-model.md: one AXI4 slave over a DRAM image, stepped once per
// rising clock edge. It is the only implementation: the fast harness links it, and the cocotb
// testbench and the Amaranth simulation load it through memory_model.py (ctypes, the C ABI at
// the end of this file).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <string>
#include <vector>

namespace vta {

constexpr int kMaxBusBytes = 128;

// What the core drives, sampled just before one rising edge.
struct AxiSample {
    int32_t arvalid, arlen, arsize, arburst, rready;
    int32_t awvalid, awlen, awsize, awburst, wvalid, wlast, bready;
    uint64_t araddr, awaddr, wstrb;
    uint8_t wdata[kMaxBusBytes];
};

// What the model drives after the edge (for the next one).
struct AxiOutputs {
    int32_t arready, awready, wready, rvalid, rlast, bvalid;
    uint8_t rdata[kMaxBusBytes];
};

struct MemoryParameters {
    int32_t bus_bytes, read_latency, write_latency, max_burst_beats, burst_boundary_bytes;
    int32_t stall_period;  // > 0: withhold ready and RVALID on edges e with e % period == 1
};

// A violation of the AXI contract; `bounds` when the bytes lie outside the DRAM image.
struct ModelError : std::runtime_error {
    bool bounds;
    ModelError(const std::string& message, bool outside) : std::runtime_error(message), bounds(outside) {}
};

class MemoryModel {
  public:
    MemoryModel(uint8_t* dram, uint64_t size, const MemoryParameters& p) : dram_(dram), size_(size), p_(p) {
        if (p.read_latency < 1 || p.write_latency < 1) throw std::invalid_argument("memory latencies must be at least 1 cycle");
        while ((1 << size_code_) < p.bus_bytes) ++size_code_;
        std::memset(&out, 0, sizeof out);
        out.arready = out.awready = out.wready = 1;
    }

    AxiOutputs out;

    // Apply the handshakes of `edge` and compute the outputs for edge + 1.
    void step(uint64_t edge, const AxiSample& s) {
        if (out.rvalid && s.rready) {
            Burst& head = reads_.front();
            if (++head.done == head.beats) reads_.pop_front();
        }
        if (s.arvalid && out.arready) {
            Burst burst = check("read", edge, s.araddr, s.arlen, s.arsize, s.arburst);
            burst.ready_at = edge + p_.read_latency;
            reads_.push_back(burst);
        }
        if (out.bvalid && s.bready) responses_.pop_front();
        if (s.awvalid && out.awready) writes_.push_back(check("write", edge, s.awaddr, s.awlen, s.awsize, s.awburst));
        if (s.wvalid && out.wready) wbuffer_.push_back({std::vector<uint8_t>(s.wdata, s.wdata + p_.bus_bytes), s.wstrb, s.wlast});
        while (!writes_.empty() && !wbuffer_.empty()) {
            commit(edge, writes_.front(), wbuffer_.front());
            wbuffer_.pop_front();
            if (writes_.front().done == writes_.front().beats) {
                writes_.pop_front();
                responses_.push_back(edge + p_.write_latency);
            }
        }
        if (int(wbuffer_.size()) > p_.max_burst_beats)
            throw ModelError("memory model: edge " + std::to_string(edge) + ": more than " +
                             std::to_string(p_.max_burst_beats) + " W beats without a write address", false);
        bool stalled = p_.stall_period > 0 && (edge + 1) % p_.stall_period == 1;
        out.arready = out.awready = out.wready = !stalled;
        drive_read(edge + 1, stalled);
        out.bvalid = !responses_.empty() && responses_.front() <= edge + 1;
    }

    bool idle() const { return reads_.empty() && writes_.empty() && wbuffer_.empty() && responses_.empty(); }

  private:
    struct Burst {
        uint64_t addr;
        int beats, done = 0;
        uint64_t ready_at = 0;
    };
    struct WBeat {
        std::vector<uint8_t> data;
        uint64_t strobe;
        int last;
    };

    static std::string hex(uint64_t value) {
        char text[32];
        std::snprintf(text, sizeof text, "%#llx", static_cast<unsigned long long>(value));
        return text;
    }

    Burst check(const char* kind, uint64_t edge, uint64_t addr, int length, int size, int burst) {
        int beats = length + 1;
        std::string where = "memory model: edge " + std::to_string(edge) + ": " + kind + " burst at " + hex(addr);
        if (burst != 1 || size != size_code_ || beats > p_.max_burst_beats)
            throw ModelError(where + ": unsupported burst (type " + std::to_string(burst) + ", size code " +
                             std::to_string(size) + ", " + std::to_string(beats) + " beats); expected INCR, size code " +
                             std::to_string(size_code_) + ", at most " + std::to_string(p_.max_burst_beats) + " beats", false);
        if (addr % p_.bus_bytes)
            throw ModelError(where + ": not aligned to the " + std::to_string(p_.bus_bytes) + "-byte bus", false);
        uint64_t end = addr + uint64_t(beats) * p_.bus_bytes;
        uint64_t boundary = p_.burst_boundary_bytes;
        if (addr / boundary != (end - 1) / boundary)
            throw ModelError(where + " (" + std::to_string(beats) + " beats) crosses a " + std::to_string(boundary) +
                             "-byte boundary", false);
        if (end > size_)
            throw ModelError(where + " (" + std::to_string(beats) + " beats) lies outside the DRAM image of " +
                             std::to_string(size_) + " bytes", true);
        return Burst{addr, beats};
    }

    void commit(uint64_t edge, Burst& burst, const WBeat& beat) {
        bool final = burst.done + 1 == burst.beats;
        if (bool(beat.last) != final)
            throw ModelError("memory model: edge " + std::to_string(edge) + ": WLAST=" + std::to_string(beat.last) +
                             " on beat " + std::to_string(burst.done + 1) + " of a " + std::to_string(burst.beats) +
                             "-beat write burst at " + hex(burst.addr), false);
        uint64_t base = burst.addr + uint64_t(burst.done) * p_.bus_bytes;
        for (int lane = 0; lane < p_.bus_bytes; ++lane)
            if (beat.strobe >> lane & 1) dram_[base + lane] = beat.data[lane];
        ++burst.done;
    }

    void drive_read(uint64_t next_edge, bool stalled) {
        if (!stalled && !reads_.empty() && reads_.front().ready_at <= next_edge) {
            const Burst& head = reads_.front();
            std::memcpy(out.rdata, dram_ + head.addr + uint64_t(head.done) * p_.bus_bytes, p_.bus_bytes);
            out.rvalid = 1;
            out.rlast = head.done + 1 == head.beats;
        } else {
            out.rvalid = out.rlast = 0;
        }
    }

    uint8_t* dram_;
    uint64_t size_;
    MemoryParameters p_;
    int size_code_ = 0;
    std::deque<Burst> reads_, writes_;
    std::deque<WBeat> wbuffer_;
    std::deque<uint64_t> responses_;
};

}  // namespace vta

// The C ABI of memory_model.py. vta_memory_step returns 0, or 1 (2 for bytes outside the
// image) with the message in `error` (at most `error_size` bytes).
extern "C" {
void* vta_memory_new(uint8_t* dram, uint64_t size, const vta::MemoryParameters* parameters);
void vta_memory_free(void* model);
int vta_memory_step(void* model, uint64_t edge, const vta::AxiSample* sample, vta::AxiOutputs* outputs,
                    char* error, uint64_t error_size);
int vta_memory_idle(void* model);
}
