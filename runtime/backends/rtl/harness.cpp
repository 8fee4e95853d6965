// The fast harness: runs one program image on the Verilated vta_core with no Python per cycle.
//
// Usage: harness RUN_DIR. Reads RUN_DIR/dram.bin and RUN_DIR/run.txt, writes RUN_DIR/dram_out.bin
// and RUN_DIR/result.json (format: runtime/backends/rtl/rundir.py). The memory model and the
// control driver are those of memory_model.py, line for line (docs/memory-model.md); the
// register offsets and constants come from harness_constants.h, generated from vta.isa.

#include "Vvta_core.h"
#include "verilated.h"
#include "harness_constants.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace {

constexpr int kBusBytes = VTA_BUS_BYTES;
using Beat = std::vector<uint8_t>;

template <typename T> void read_bytes(const T& signal, uint8_t* out) {
    if constexpr (std::is_integral_v<T>) {
        uint64_t value = signal;
        std::memcpy(out, &value, sizeof(T) < kBusBytes ? sizeof(T) : kBusBytes);
    } else {
        for (int word = 0; word < kBusBytes / 4; ++word) {
            uint32_t value = signal[word];
            std::memcpy(out + 4 * word, &value, 4);
        }
    }
}

template <typename T> void write_bytes(T& signal, const uint8_t* in) {
    if constexpr (std::is_integral_v<T>) {
        uint64_t value = 0;
        std::memcpy(&value, in, kBusBytes);
        signal = static_cast<T>(value);
    } else {
        for (int word = 0; word < kBusBytes / 4; ++word) {
            uint32_t value;
            std::memcpy(&value, in + 4 * word, 4);
            signal[word] = value;
        }
    }
}

struct ModelError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct AxiSample {
    int arvalid = 0, arlen = 0, arsize = 0, arburst = 0, rready = 0;
    int awvalid = 0, awlen = 0, awsize = 0, awburst = 0, wvalid = 0, wlast = 0, bready = 0;
    uint64_t araddr = 0, awaddr = 0, wstrb = 0;
    uint8_t wdata[kBusBytes] = {};
};

struct Burst {
    uint64_t addr;
    int beats, done = 0;
    uint64_t ready_at = 0;
};

struct WBeat {
    Beat data;
    uint64_t strobe;
    int last;
};

std::string hex(uint64_t value) {
    char text[32];
    std::snprintf(text, sizeof text, "%#llx", static_cast<unsigned long long>(value));
    return text;
}

// AxiMemoryModel of memory_model.py.
class MemoryModel {
  public:
    MemoryModel(std::vector<uint8_t>& dram, int read_latency, int write_latency)
        : dram_(dram), read_latency_(read_latency), write_latency_(write_latency) {
        while ((1 << size_code_) < kBusBytes) ++size_code_;
    }

    int rvalid = 0, rlast = 0, bvalid = 0;
    uint8_t rdata[kBusBytes] = {};

    void step(uint64_t edge, const AxiSample& s) {
        if (rvalid && s.rready) {
            Burst& head = reads_.front();
            if (++head.done == head.beats) reads_.pop_front();
        }
        if (s.arvalid) {
            Burst burst = check("read", edge, s.araddr, s.arlen, s.arsize, s.arburst);
            burst.ready_at = edge + read_latency_;
            reads_.push_back(burst);
        }
        if (bvalid && s.bready) responses_.pop_front();
        if (s.awvalid) writes_.push_back(check("write", edge, s.awaddr, s.awlen, s.awsize, s.awburst));
        if (s.wvalid) wbuffer_.push_back({Beat(s.wdata, s.wdata + kBusBytes), s.wstrb, s.wlast});
        while (!writes_.empty() && !wbuffer_.empty()) {
            commit(edge, writes_.front(), wbuffer_.front());
            wbuffer_.pop_front();
            if (writes_.front().done == writes_.front().beats) {
                writes_.pop_front();
                responses_.push_back(edge + write_latency_);
            }
        }
        if (wbuffer_.size() > MAX_BURST_BEATS)
            throw ModelError("memory model: edge " + std::to_string(edge) + ": more than " +
                             std::to_string(MAX_BURST_BEATS) + " W beats without a write address");
        drive_read(edge + 1);
        bvalid = !responses_.empty() && responses_.front() <= edge + 1;
    }

  private:
    Burst check(const char* kind, uint64_t edge, uint64_t addr, int length, int size, int burst) {
        int beats = length + 1;
        std::string where = "memory model: edge " + std::to_string(edge) + ": " + kind +
                            " burst at " + hex(addr);
        if (burst != BURST_INCR || size != size_code_ || beats > MAX_BURST_BEATS)
            throw ModelError(where + ": unsupported burst (type " + std::to_string(burst) +
                             ", size code " + std::to_string(size) + ", " + std::to_string(beats) +
                             " beats); expected INCR, size code " + std::to_string(size_code_) +
                             ", at most " + std::to_string(MAX_BURST_BEATS) + " beats");
        if (addr % kBusBytes)
            throw ModelError(where + ": not aligned to the " + std::to_string(kBusBytes) + "-byte bus");
        uint64_t end = addr + uint64_t(beats) * kBusBytes;
        if (addr / BURST_BOUNDARY_BYTES != (end - 1) / BURST_BOUNDARY_BYTES)
            throw ModelError(where + " (" + std::to_string(beats) + " beats) crosses a " +
                             std::to_string(BURST_BOUNDARY_BYTES) + "-byte boundary");
        if (end > dram_.size())
            throw ModelError(where + " (" + std::to_string(beats) + " beats) lies outside the DRAM image of " +
                             std::to_string(dram_.size()) + " bytes");
        return Burst{addr, beats};
    }

    void commit(uint64_t edge, Burst& burst, const WBeat& beat) {
        bool final = burst.done + 1 == burst.beats;
        if (bool(beat.last) != final)
            throw ModelError("memory model: edge " + std::to_string(edge) + ": WLAST=" +
                             std::to_string(beat.last) + " on beat " + std::to_string(burst.done + 1) +
                             " of a " + std::to_string(burst.beats) + "-beat write burst at " + hex(burst.addr));
        uint64_t base = burst.addr + uint64_t(burst.done) * kBusBytes;
        for (int lane = 0; lane < kBusBytes; ++lane)
            if (beat.strobe >> lane & 1) dram_[base + lane] = beat.data[lane];
        ++burst.done;
    }

    void drive_read(uint64_t next_edge) {
        if (!reads_.empty() && reads_.front().ready_at <= next_edge) {
            const Burst& head = reads_.front();
            std::memcpy(rdata, &dram_[head.addr + uint64_t(head.done) * kBusBytes], kBusBytes);
            rvalid = 1;
            rlast = head.done + 1 == head.beats;
        } else {
            rvalid = rlast = 0;
        }
    }

    std::vector<uint8_t>& dram_;
    int read_latency_, write_latency_, size_code_ = 0;
    std::deque<Burst> reads_, writes_;
    std::deque<WBeat> wbuffer_;
    std::deque<uint64_t> responses_;
};

struct LiteSample {
    int awready = 0, wready = 0, bvalid = 0, arready = 0, rvalid = 0;
    uint32_t rdata = 0;
};

struct Operation {
    enum Kind { kWrite, kPoll, kRead } kind;
    uint32_t reg, value;
    const char* name;
};

// ControlDriver of memory_model.py.
class ControlDriver {
  public:
    ControlDriver(uint32_t insn_addr, uint32_t insn_count) {
        ops_ = {{Operation::kWrite, REG_INSN_ADDR, insn_addr, nullptr},
                {Operation::kWrite, REG_INSN_COUNT, insn_count, nullptr},
                {Operation::kWrite, REG_CONTROL, CONTROL_START, nullptr},
                {Operation::kPoll, REG_STATUS, 0, nullptr}};
        for (const auto& reg : kReportRegisters) ops_.push_back({Operation::kRead, reg.offset, 0, reg.name});
    }

    int awvalid = 0, wvalid = 0, bready = 0, arvalid = 0, rready = 0;
    uint32_t awaddr = 0, wdata = 0, wstrb = 0, araddr = 0;
    uint64_t started_at = 0;
    std::vector<std::pair<const char*, uint32_t>> registers;

    bool finished() const { return index_ >= int(ops_.size()); }
    bool polling() const { return !finished() && ops_[index_].kind == Operation::kPoll; }

    void step(uint64_t edge, const LiteSample& s) {
        if (index_ < 0) return begin(0);
        const Operation& op = ops_[index_];
        if (op.kind == Operation::kWrite) {
            if (bready && s.bvalid) {
                bready = 0;
                if (op.reg == REG_CONTROL) started_at = edge;
                return begin(index_ + 1);
            }
            if (awvalid && s.awready) awvalid = 0;
            if (wvalid && s.wready) wvalid = 0;
            bready = !awvalid && !wvalid;
            return;
        }
        if (rready && s.rvalid) {
            rready = 0;
            if (op.kind == Operation::kPoll && !(s.rdata & STATUS_DONE)) return begin(index_);
            if (op.kind == Operation::kRead) registers.push_back({op.name, s.rdata});
            return begin(index_ + 1);
        }
        if (arvalid && s.arready) {
            arvalid = 0;
            rready = 1;
        }
    }

  private:
    void begin(int index) {
        index_ = index;
        if (finished()) return;
        const Operation& op = ops_[index];
        if (op.kind == Operation::kWrite) {
            awvalid = wvalid = 1;
            awaddr = op.reg;
            wdata = op.value;
            wstrb = 0xF;
        } else {
            arvalid = 1;
            araddr = op.reg;
        }
    }

    std::vector<Operation> ops_;
    int index_ = -1;
};

std::map<std::string, uint64_t> read_request(const std::string& folder) {
    std::ifstream in(folder + "/run.txt");
    if (!in) throw std::runtime_error(folder + "/run.txt: cannot open");
    std::map<std::string, uint64_t> request;
    std::string key;
    uint64_t value;
    while (in >> key >> value) request[key] = value;
    for (const char* needed : {"insn_addr", "insn_count", "bus_bytes", "read_latency", "write_latency", "max_cycles"})
        if (!request.count(needed)) throw std::runtime_error(folder + "/run.txt: missing " + needed);
    if (request["bus_bytes"] != kBusBytes)
        throw std::runtime_error("run.txt asks for a " + std::to_string(request["bus_bytes"]) +
                                 "-byte bus; this harness was built for " + std::to_string(kBusBytes));
    return request;
}

std::string json_escape(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

void write_result(const std::string& folder, const std::vector<uint8_t>& dram, const std::string& status,
                  const std::string& message, uint64_t edges, const ControlDriver& driver) {
    std::ofstream(folder + "/dram_out.bin", std::ios::binary)
        .write(reinterpret_cast<const char*>(dram.data()), dram.size());
    std::ostringstream json;
    json << "{\"status\": \"" << status << "\", \"message\": \"" << json_escape(message)
         << "\", \"edges\": " << edges << ", \"started_at\": " << driver.started_at << ", \"registers\": {";
    for (size_t i = 0; i < driver.registers.size(); ++i)
        json << (i ? ", " : "") << '"' << driver.registers[i].first << "\": " << driver.registers[i].second;
    json << "}}\n";
    std::ofstream(folder + "/result.json") << json.str();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s RUN_DIR\n", argv[0]);
        return 2;
    }
    const std::string folder = argv[1];
    std::map<std::string, uint64_t> request;
    std::vector<uint8_t> dram;
    try {
        request = read_request(folder);
        std::ifstream in(folder + "/dram.bin", std::ios::binary);
        if (!in) throw std::runtime_error(folder + "/dram.bin: cannot open");
        dram.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    } catch (const std::exception& error) {
        std::fprintf(stderr, "harness: %s\n", error.what());
        return 2;
    }
    auto context = std::make_unique<VerilatedContext>();
    auto top = std::make_unique<Vvta_core>(context.get());
    MemoryModel memory(dram, int(request["read_latency"]), int(request["write_latency"]));
    ControlDriver driver{uint32_t(request["insn_addr"]), uint32_t(request["insn_count"])};
    const uint64_t deadline = RESET_EDGES + request["max_cycles"];

    top->rst = 1;
    top->m_axi_arready = top->m_axi_awready = top->m_axi_wready = 1;
    top->clk = 1;
    top->eval();
    AxiSample axi;
    LiteSample lite;
    std::string status = "ok", message;
    uint64_t edge = 0;
    while (!driver.finished()) {
        ++edge;
        top->clk = 0;
        top->eval();
        if (edge > RESET_EDGES) {
            if (driver.polling() && edge > deadline) {
                status = "deadlock";
                message = "watchdog: the core was not done after " + std::to_string(request["max_cycles"]) + " cycles";
                break;
            }
            axi.arvalid = top->m_axi_arvalid;
            if (axi.arvalid) {
                axi.araddr = top->m_axi_araddr, axi.arlen = top->m_axi_arlen;
                axi.arsize = top->m_axi_arsize, axi.arburst = top->m_axi_arburst;
            }
            axi.rready = memory.rvalid ? top->m_axi_rready : 0;
            axi.awvalid = top->m_axi_awvalid;
            if (axi.awvalid) {
                axi.awaddr = top->m_axi_awaddr, axi.awlen = top->m_axi_awlen;
                axi.awsize = top->m_axi_awsize, axi.awburst = top->m_axi_awburst;
            }
            axi.wvalid = top->m_axi_wvalid;
            if (axi.wvalid) {
                read_bytes(top->m_axi_wdata, axi.wdata);
                axi.wstrb = top->m_axi_wstrb, axi.wlast = top->m_axi_wlast;
            }
            axi.bready = memory.bvalid ? top->m_axi_bready : 0;
            lite.awready = driver.awvalid ? top->s_axi_control_awready : 0;
            lite.wready = driver.wvalid ? top->s_axi_control_wready : 0;
            lite.bvalid = driver.bready ? top->s_axi_control_bvalid : 0;
            lite.arready = driver.arvalid ? top->s_axi_control_arready : 0;
            lite.rvalid = driver.rready ? top->s_axi_control_rvalid : 0;
            if (lite.rvalid) lite.rdata = top->s_axi_control_rdata;
            try {
                memory.step(edge, axi);
            } catch (const ModelError& error) {
                status = "error";
                message = error.what();
                break;
            }
            driver.step(edge, lite);
        }
        top->clk = 1;
        top->eval();
        if (edge == RESET_EDGES) top->rst = 0;
        top->m_axi_rvalid = memory.rvalid;
        top->m_axi_rlast = memory.rlast;
        write_bytes(top->m_axi_rdata, memory.rdata);
        top->m_axi_bvalid = memory.bvalid;
        top->s_axi_control_awvalid = driver.awvalid;
        top->s_axi_control_awaddr = driver.awaddr;
        top->s_axi_control_wvalid = driver.wvalid;
        top->s_axi_control_wdata = driver.wdata;
        top->s_axi_control_wstrb = driver.wstrb;
        top->s_axi_control_bready = driver.bready;
        top->s_axi_control_arvalid = driver.arvalid;
        top->s_axi_control_araddr = driver.araddr;
        top->s_axi_control_rready = driver.rready;
    }
    top->final();
    write_result(folder, dram, status, message, edge, driver);
    return 0;
}
