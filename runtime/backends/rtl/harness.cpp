// The fast harness: the Verilated vta_core with the memory model (memory_model.h), serving the
// bus protocol of session.py on stdin/stdout with no Python per cycle.
//
// Usage: harness SESSION_DIR [WAVES]. SESSION_DIR/session.txt gives the memory parameters
// (`key value` lines); SESSION_DIR/dram.bin is the DRAM, mapped shared with the host. Built
// with -DVTA_WAVES_FST or -DVTA_WAVES_VCD (and Verilator's --trace-fst or --trace-vcd), it
// dumps every signal to the file WAVES: cycles `waves_from` to `waves_to` of session.txt
// (counted from the first edge after reset), each rising edge at cycle × `period_ps`. Requests,
// one per line: `W offset value` (an AXI4-Lite write of the control slave) -> `OK`;
// `R offset` -> `V value`; `P cycles` (let the clock run) -> `OK`; `Q` ends. A failure is
// answered `E bounds|protocol|timeout message` and ends the session.
//
// Built with -DVTA_INPUT_REGISTERS, the top module is the wrapper of harnesses.py
// (`input_registers`): `rst` and the memory's signals (`m_axi_*` inputs) reach the core through
// registers, so the harness sets them *before* the rising edge after which the core must see
// them, and the core's combinational logic settles in the edge's own evaluation; the core sees
// the same values at every edge as without the wrapper. Without the wrapper (the waveform
// builds, whose signal names stay those of the core), every input reaching the core from the top
// level is recomputed by Verilator at each evaluation, twice per cycle.

#include "Vvta_core.h"
#include "memory_model.h"
#include "verilated.h"
#if defined(VTA_WAVES_FST)
#include "verilated_fst_c.h"
using WaveWriter = VerilatedFstC;
#elif defined(VTA_WAVES_VCD)
#include "verilated_vcd_c.h"
using WaveWriter = VerilatedVcdC;
#endif
#if defined(VTA_WAVES_FST) || defined(VTA_WAVES_VCD)
#define VTA_WAVES 1
#endif

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>

namespace {

constexpr int kResetEdges = 4;
constexpr uint64_t kTransactionCycles = 1000;

template <typename T> void read_bytes(const T& signal, uint8_t* out, int bytes) {
    if constexpr (std::is_integral_v<T>) {
        uint64_t value = signal;
        std::memcpy(out, &value, bytes);
    } else {
        for (int word = 0; word < bytes / 4; ++word) {
            uint32_t value = signal[word];
            std::memcpy(out + 4 * word, &value, 4);
        }
    }
}

template <typename T> void write_bytes(T& signal, const uint8_t* in, int bytes) {
    if constexpr (std::is_integral_v<T>) {
        uint64_t value = 0;
        std::memcpy(&value, in, bytes);
        signal = static_cast<T>(value);
    } else {
        for (int word = 0; word < bytes / 4; ++word) {
            uint32_t value;
            std::memcpy(&value, in + 4 * word, 4);
            signal[word] = value;
        }
    }
}

// One AXI4-Lite transaction at a time, on request (the master of the bus protocol).
struct LiteMaster {
    enum Kind { kIdle, kWrite, kRead } kind = kIdle;
    int awvalid = 0, wvalid = 0, bready = 0, arvalid = 0, rready = 0;
    uint32_t awaddr = 0, wdata = 0, wstrb = 0, araddr = 0, result = 0;

    void write(uint32_t offset, uint32_t value) {
        kind = kWrite;
        awvalid = wvalid = 1, awaddr = offset, wdata = value, wstrb = 0xF;
    }
    void read(uint32_t offset) {
        kind = kRead;
        arvalid = 1, araddr = offset;
    }
    // The handshakes of this edge, given what the slave drove before it.
    void step(int awready, int wready, int bvalid, int arready, int rvalid, uint32_t rdata) {
        if (kind == kWrite) {
            if (bready && bvalid) {
                bready = 0, kind = kIdle;
                return;
            }
            if (awvalid && awready) awvalid = 0;
            if (wvalid && wready) wvalid = 0;
            bready = !awvalid && !wvalid;
        } else if (kind == kRead) {
            if (rready && rvalid) {
                rready = 0, kind = kIdle, result = rdata;
                return;
            }
            if (arvalid && arready) arvalid = 0, rready = 1;
        }
    }
};

// Which cycles go to the waveform file, and when they happened.
struct WaveWindow {
    std::string path;  // empty: no waveform
    int64_t first = INT64_MIN, last = INT64_MAX;  // default: every edge, reset included
    uint64_t period_ps = 10000;
};

std::unique_ptr<VerilatedContext> make_context(bool waves) {
    std::unique_ptr<VerilatedContext> context(new VerilatedContext);
    if (waves) context->traceEverOn(true);  // before the model exists
    return context;
}

class Session {
  public:
    Session(uint8_t* dram, uint64_t size, const vta::MemoryParameters& p, const WaveWindow& window)
        : p_(p), memory_(dram, size, p), window_(window), context_(make_context(!window.path.empty())),
          top_(new Vvta_core(context_.get())) {
#ifdef VTA_WAVES
        if (!window_.path.empty()) {
            waves_.reset(new WaveWriter);
            top_->trace(waves_.get(), 99);
            waves_->open(window_.path.c_str());
        }
#endif
        top_->rst = 1;
        top_->m_axi_arready = top_->m_axi_awready = top_->m_axi_wready = 1;
        top_->clk = 1;
        top_->eval();
        for (int edge = 0; edge < kResetEdges; ++edge) {
            reset_after_ = edge + 1 < kResetEdges;
            cycle(false);
        }
        cycle();  // the first edge after reset, at which cocotb_testbench.py takes its first request
    }

    ~Session() {
        top_->final();
#ifdef VTA_WAVES
        if (waves_) waves_->close();
#endif
    }

    // One rising edge: sample, step the models, raise the clock, drive their outputs.
    void cycle(bool active = true) {
        ++edge_;
        drive_master();
        top_->clk = 0;
        top_->eval();
        dump(-1);
        if (active) {
            vta::AxiSample s{};
            s.arvalid = top_->m_axi_arvalid;
            if (s.arvalid) s.araddr = top_->m_axi_araddr, s.arlen = top_->m_axi_arlen, s.arsize = top_->m_axi_arsize,
                           s.arburst = top_->m_axi_arburst;
            s.rready = memory_.out.rvalid ? top_->m_axi_rready : 0;
            s.awvalid = top_->m_axi_awvalid;
            if (s.awvalid) s.awaddr = top_->m_axi_awaddr, s.awlen = top_->m_axi_awlen, s.awsize = top_->m_axi_awsize,
                           s.awburst = top_->m_axi_awburst;
            s.wvalid = top_->m_axi_wvalid;
            if (s.wvalid) {
                read_bytes(top_->m_axi_wdata, s.wdata, p_.bus_bytes);
                s.wstrb = top_->m_axi_wstrb, s.wlast = top_->m_axi_wlast;
            }
            s.bready = memory_.out.bvalid ? top_->m_axi_bready : 0;
            int awready = master_.awvalid ? top_->s_axi_control_awready : 0;
            int wready = master_.wvalid ? top_->s_axi_control_wready : 0;
            int bvalid = master_.bready ? top_->s_axi_control_bvalid : 0;
            int arready = master_.arvalid ? top_->s_axi_control_arready : 0;
            int rvalid = master_.rready ? top_->s_axi_control_rvalid : 0;
            uint32_t rdata = rvalid ? top_->s_axi_control_rdata : 0;
            memory_.step(edge_, s);
            master_.step(awready, wready, bvalid, arready, rvalid, rdata);
        }
#ifdef VTA_INPUT_REGISTERS
        drive_registered();  // taken by the wrapper's registers at this edge
#endif
        top_->clk = 1;
        top_->eval();
        dump(0);
#ifndef VTA_INPUT_REGISTERS
        drive_registered();
#endif
    }

    // What the core sees after this rising edge: reset and the memory model's outputs.
    void drive_registered() {
        top_->rst = reset_after_;
        top_->m_axi_arready = memory_.out.arready;
        top_->m_axi_awready = memory_.out.awready;
        top_->m_axi_wready = memory_.out.wready;
        top_->m_axi_rvalid = memory_.out.rvalid;
        top_->m_axi_rlast = memory_.out.rlast;
        write_bytes(top_->m_axi_rdata, memory_.out.rdata, p_.bus_bytes);
        top_->m_axi_bvalid = memory_.out.bvalid;
    }

    // The master's outputs, driven after the last rising edge (a new request's too).
    void drive_master() {
        top_->s_axi_control_awvalid = master_.awvalid;
        top_->s_axi_control_awaddr = master_.awaddr;
        top_->s_axi_control_wvalid = master_.wvalid;
        top_->s_axi_control_wdata = master_.wdata;
        top_->s_axi_control_wstrb = master_.wstrb;
        top_->s_axi_control_bready = master_.bready;
        top_->s_axi_control_arvalid = master_.arvalid;
        top_->s_axi_control_araddr = master_.araddr;
        top_->s_axi_control_rready = master_.rready;
    }

    // Run a transaction the master has begun to its end; false after kTransactionCycles.
    bool finish_transaction() {
        for (uint64_t waited = 0; master_.kind != LiteMaster::kIdle; ++waited) {
            if (waited > kTransactionCycles) return false;
            cycle();
        }
        return true;
    }

    LiteMaster& master() { return master_; }

  private:
    // The signals now, half a period before the rising edge (`half` -1) or at it (0), if the
    // edge's cycle is in the window (cycle 0: the first edge after reset).
    void dump(int half) {
#ifdef VTA_WAVES
        if (!waves_) return;
        int64_t cycle = int64_t(edge_) - kResetEdges - 1;
        if (cycle < window_.first || cycle > window_.last) return;
        int64_t edge_ps = int64_t(edge_) * int64_t(window_.period_ps);
        waves_->dump(uint64_t(edge_ps + half * int64_t(window_.period_ps / 2)));
#else
        (void)half;
#endif
    }

    vta::MemoryParameters p_;
    vta::MemoryModel memory_;
    WaveWindow window_;
    std::unique_ptr<VerilatedContext> context_;
    std::unique_ptr<Vvta_core> top_;
#ifdef VTA_WAVES
    std::unique_ptr<WaveWriter> waves_;
#endif
    LiteMaster master_;
    uint64_t edge_ = 0;
    int reset_after_ = 1;  // rst after the coming edge
};

std::map<std::string, uint64_t> read_settings(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(path + ": cannot open");
    std::map<std::string, uint64_t> settings;
    std::string key;
    uint64_t value;
    while (in >> key >> value) settings[key] = value;
    for (const char* needed : {"bus_bytes", "read_latency", "write_latency", "max_burst_beats", "burst_boundary_bytes"})
        if (!settings.count(needed)) throw std::runtime_error(path + ": missing " + needed);
    return settings;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2 && argc != 3) {
        std::fprintf(stderr, "usage: %s SESSION_DIR [WAVES]\n", argv[0]);
        return 2;
    }
    const std::string folder = argv[1];
    std::map<std::string, uint64_t> settings;
    uint8_t* dram = nullptr;
    uint64_t size = 0;
    try {
        settings = read_settings(folder + "/session.txt");
        int fd = open((folder + "/dram.bin").c_str(), O_RDWR);
        struct stat info;
        if (fd < 0 || fstat(fd, &info)) throw std::runtime_error(folder + "/dram.bin: cannot open");
        size = info.st_size;
        void* mapped = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (mapped == MAP_FAILED) throw std::runtime_error(folder + "/dram.bin: cannot map");
        dram = static_cast<uint8_t*>(mapped);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "harness: %s\n", error.what());
        return 2;
    }
    vta::MemoryParameters parameters{int32_t(settings["bus_bytes"]), int32_t(settings["read_latency"]),
                                     int32_t(settings["write_latency"]), int32_t(settings["max_burst_beats"]),
                                     int32_t(settings["burst_boundary_bytes"]), 0};
    if (parameters.bus_bytes > vta::kMaxBusBytes || parameters.bus_bytes % 4) {
        std::fprintf(stderr, "harness: unsupported bus of %d bytes\n", parameters.bus_bytes);
        return 2;
    }
    WaveWindow window;
    if (argc == 3) {
#ifdef VTA_WAVES
        window.path = argv[2];
        if (settings.count("waves_from")) window.first = int64_t(settings["waves_from"]);
        if (settings.count("waves_to")) window.last = int64_t(settings["waves_to"]);
        if (settings.count("period_ps")) window.period_ps = settings["period_ps"];
#else
        std::fprintf(stderr, "harness: built without waveform support\n");
        return 2;
#endif
    }
    Session session(dram, size, parameters, window);
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream words(line);
        std::string request;
        uint64_t first = 0, second = 0;
        words >> request >> first >> second;
        if (request == "Q") break;
        try {
            if (request == "W" || request == "R") {
                if (request == "W") session.master().write(uint32_t(first), uint32_t(second));
                else session.master().read(uint32_t(first));
                if (!session.finish_transaction()) {
                    std::cout << "E timeout control slave did not answer a " << (request == "W" ? "write" : "read")
                              << " within " << kTransactionCycles << " cycles" << std::endl;
                    break;
                }
                if (request == "W") std::cout << "OK" << std::endl;
                else std::cout << "V " << session.master().result << std::endl;
            } else if (request == "P") {
                for (uint64_t cycle = 0; cycle < first; ++cycle) session.cycle();
                std::cout << "OK" << std::endl;
            } else {
                std::cout << "E protocol unknown request " << request << std::endl;
                break;
            }
        } catch (const vta::ModelError& error) {
            std::cout << "E " << (error.bounds ? "bounds " : "protocol ") << error.what() << std::endl;
            break;
        }
    }
    msync(dram, size, MS_SYNC);
    munmap(dram, size);
    return 0;
}
