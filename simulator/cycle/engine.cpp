// The cycle model (docs/cycle-model.md) compiled: a line-by-line port of the Python processes
// of model.py, the event kernel of events.py, the read port's reference arbitration
// (read_port.py `ReadPort._arbitrate`, `_grant`) with its clients (clients.py), the write
// port's `_store` (write_port.py), `KernelFootprints` (footprints.py) and `UopBanks`
// (bank_conflicts.py). Each generator process is a coroutine and `yield from` a `co_await` of a
// sub-task. The Python model is the reference; engine.py builds and calls this file.
//
// Every number the Python layer defines (machine parameters, constants, field positions, enum
// values) comes in through `parameters`, by the names `pyvta_engine_parameters` lists.

#include <algorithm>
#include <coroutine>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <stdexcept>
#include <utility>
#include <vector>

namespace {

using i64 = int64_t;
constexpr i64 UNFIRED = INT64_MIN;

// -- parameters, instruction fields and results, by name ------------------------------------

#define PARAMETERS(X)                                                                        \
    X(bus_bytes) X(insn_bytes) X(uop_bytes) X(fetch_buffer_depth)                             \
    X(fetch_request_instructions) X(command_queue_depth) X(token_queue_depth)                 \
    X(overlap_kernels) X(gemm_interval) X(alu_interval) X(burst_boundary_bytes)               \
    X(max_burst_beats) X(max_outstanding_reads) X(max_outstanding_writes) X(read_latency)     \
    X(write_latency) X(aw_to_w) X(elem_bytes_inp) X(elem_bytes_wgt) X(elem_bytes_acc)         \
    X(elem_bytes_out) X(uop_depth) X(acc_depth) X(uop_dst_lsb) X(uop_dst_width)               \
    X(uop_src_lsb) X(uop_src_width) X(arrival_to_head) X(arrival_to_route) X(route_to_room)   \
    X(start_to_fetch) X(finish_to_end) X(issue_to_data) X(alu_bank_conflict_cycles)           \
    X(uop_pipeline_drain) X(opcode_load) X(opcode_store) X(opcode_gemm) X(opcode_finish)      \
    X(opcode_alu) X(memory_uop) X(memory_inp) X(memory_wgt) X(memory_acc) X(client_fetch)     \
    X(client_uop) X(client_inp) X(client_wgt) X(client_acc) X(read_clients) X(token_queues)   \
    X(modules) X(module_load) X(module_compute) X(module_store) X(priority_process) X(priority_arbiter) X(opcode_lsb)        \
    X(opcode_width) X(opcodes) X(memory_types)

#define FIELDS(X)                                                                            \
    X(pop_prev_dep) X(pop_next_dep) X(push_prev_dep) X(push_next_dep) X(memory_type)          \
    X(sram_base) X(dram_base) X(y_size) X(x_size) X(x_stride) X(y_pad_0) X(y_pad_1)           \
    X(x_pad_0) X(x_pad_1) X(uop_bgn) X(uop_end) X(iter_out) X(iter_in) X(dst_factor_out)      \
    X(dst_factor_in) X(src_factor_out) X(src_factor_in) X(use_imm)

#define RESULTS(X)                                                                           \
    X(status) X(cycles) X(fetch_busy) X(read_beats) X(write_beats) X(blocked_module)          \
    X(blocked_queue) X(timeline_entries)

#define ENUM(name) name,
#define NAME(name) #name " "
enum Parameter { PARAMETERS(ENUM) PARAMETER_COUNT };
enum Field { FIELDS(ENUM) FIELD_COUNT };
enum Result { RESULTS(ENUM) RESULT_COUNT };   // then busy and stall of each module
constexpr int TIMELINE_FIELDS = 6;      // module, index in its queue, opcode, head, issue, done
constexpr int FLAGS = 4;                // pop_prev_dep .. push_next_dep, in FIELDS order
// `status`: a report; a deadlock (the blocked module and queue, or -1: no FINISH).
enum Status { REPORT, DEADLOCK };

struct Unsupported : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void require(bool condition, const char *what) {
    if (!condition) throw Unsupported(what);
}

template <class T> T &at(std::vector<T> &items, i64 index) {
    require(index >= 0 && index < (i64)items.size(), "index out of range");
    return items[index];
}

// -- the event kernel (events.py) ----------------------------------------------------------

struct Entry {
    i64 time, priority, order;
    std::coroutine_handle<> process;    // none: the read port's arbitration
};

struct Later {
    bool operator()(const Entry &a, const Entry &b) const {
        if (a.time != b.time) return a.time > b.time;
        if (a.priority != b.priority) return a.priority > b.priority;
        return a.order > b.order;
    }
};

struct Kernel {
    i64 now = 0, order = 0, process_priority = 0, arbiter_priority = 1;
    std::vector<Entry> queue;

    void push(i64 time, i64 priority, std::coroutine_handle<> process) {
        queue.push_back({time > now ? time : now, priority, order++, process});
        std::push_heap(queue.begin(), queue.end(), Later());
    }
    void at_arbiter(i64 time) { push(time, arbiter_priority, nullptr); }
    void resume(std::coroutine_handle<> process, i64 time) {
        push(time, process_priority, process);
    }
    bool quiet_until(i64 time) const { return queue.empty() || queue.front().time > time; }
};

struct Event {
    i64 time = UNFIRED;
    std::vector<std::coroutine_handle<>> waiters;

    bool fired() const { return time != UNFIRED; }
    void fire(Kernel &kernel, i64 at) {
        time = at;
        for (auto process : waiters) kernel.resume(process, at);
        waiters.clear();
    }
};

// `co_await` of an event: goes on in the same step when it has fired by now (`Kernel._step`).
struct Wait {
    Kernel *kernel;
    Event *event;
    bool await_ready() const { return event->fired() && event->time <= kernel->now; }
    void await_suspend(std::coroutine_handle<> process) {
        if (event->fired())
            kernel->resume(process, event->time);
        else
            event->waiters.push_back(process);
    }
    void await_resume() const {}
};

// A process or a sub-generator: started by the kernel (a process) or by `co_await` (a
// sub-task, which returns to its caller when done).
template <class T> struct Task {
    struct promise_type {
        T value{};
        std::coroutine_handle<> caller;
        Task get_return_object() {
            return Task(std::coroutine_handle<promise_type>::from_promise(*this));
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        struct Done {
            bool await_ready() noexcept { return false; }
            std::coroutine_handle<> await_suspend(
                std::coroutine_handle<promise_type> self) noexcept {
                auto caller = self.promise().caller;
                return caller ? caller : std::noop_coroutine();
            }
            void await_resume() noexcept {}
        };
        Done final_suspend() noexcept { return {}; }
        void return_value(T result) { value = result; }
        void unhandled_exception() { throw; }
    };

    std::coroutine_handle<promise_type> handle;
    explicit Task(std::coroutine_handle<promise_type> h) : handle(h) {}
    Task(Task &&other) noexcept : handle(other.handle) { other.handle = nullptr; }
    Task(const Task &) = delete;
    ~Task() {
        if (handle) handle.destroy();
    }
    bool await_ready() const { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) {
        handle.promise().caller = caller;
        return handle;
    }
    T await_resume() { return handle.promise().value; }
};

using Process = Task<int>;

// -- instructions ---------------------------------------------------------------------------

struct Insn {
    i64 opcode, module;
    i64 f[FIELD_COUNT];
    int pops[2], pushes[2];     // token queues, -1: none
    int pop_count = 0, push_count = 0;
};

// -- read clients (clients.py) and the read port (read_port.py) -----------------------------

// The next INCR burst of a transfer at `addr` with `words` left (read_port.py `burst_sizes`):
// at most `longest` beats, not across a multiple of `boundary`; `addr` and `words` move past it.
i64 next_burst(i64 &addr, i64 &words, i64 boundary, i64 longest, i64 bus) {
    i64 count = std::min(words, std::min(longest, (boundary - addr % boundary) / bus));
    require(count > 0, "a burst of no beats");
    addr += count * bus;
    words -= count;
    return count;
}

struct TensorClient {
    i64 words_per_tile = 0, mem_wait = 0;
    i64 x_pad_0 = 0, x_pad_1 = 0, row_width = 0, tail = 0, row_words = 0, rows_left = 0,
        words_left = 0, writer = 0;

    void start(const Insn &insn, i64 start) {
        const i64 *f = insn.f;
        x_pad_0 = f[Field::x_pad_0], x_pad_1 = f[Field::x_pad_1];
        i64 y_pad_0 = f[Field::y_pad_0];
        row_width = x_pad_0 + f[x_size] + x_pad_1;
        tail = f[y_pad_1] * row_width;
        row_words = f[x_size] * words_per_tile;
        rows_left = f[y_size];
        words_left = row_words;
        writer = start + 2 + y_pad_0 * row_width + x_pad_0;
        if (rows_left == 0) writer = start + 2 + y_pad_0 * row_width + tail;
    }
    void accept(i64 beats, i64 earliest, i64 &first, i64 &last) {
        i64 w = writer;
        if (earliest > w) {
            mem_wait += earliest - w;
            w = earliest;
        }
        last = w + beats - 1;
        writer = last + 1;
        words_left -= beats;
        if (words_left == 0) {
            rows_left -= 1;
            words_left = row_words;
            writer += x_pad_1 + (rows_left ? x_pad_0 : tail);
        }
        first = w;
    }
};

struct UopClient {
    i64 per_word = 0, mem_wait = 0, slot = 0, left = 0, writer = 0;

    void start(const Insn &insn, i64 start) {
        slot = insn.f[dram_base] % per_word;
        left = insn.f[x_size];
        writer = start + 1;
    }
    i64 words(const Insn &insn) const {
        return (insn.f[dram_base] % per_word + insn.f[x_size] + per_word - 1) / per_word;
    }
    void accept(i64 beats, i64 earliest, i64 &first, i64 &last) {
        first = std::max(earliest, writer);
        mem_wait += first - writer;
        i64 cycles = std::min(left, per_word - slot + (beats - 1) * per_word);
        left -= cycles;
        slot = 0;
        writer = first + cycles;
        last = first + cycles - 1;
    }
};

struct FetchClient {
    Kernel *kernel = nullptr;
    i64 words_per_insn = 0, words = 0;
    std::vector<Event> arrivals;

    void accept(i64 beats, i64 earliest, i64 &first, i64 &last) {
        for (i64 offset = 0; offset < beats; ++offset) {
            words += 1;
            if (words % words_per_insn == 0)
                at(arrivals, words / words_per_insn - 1).fire(*kernel, earliest + offset);
        }
        first = earliest;
        last = earliest + beats - 1;
    }
};

struct Command {
    FetchClient *fetch = nullptr;
    TensorClient *tensor = nullptr;
    UopClient *uop = nullptr;
    i64 first, words, posted, count = 1, stride = 0, next = 0;
    Event granted, done;

    void accept(i64 beats, i64 earliest, i64 &first_beat, i64 &last_beat) {
        if (fetch)
            fetch->accept(beats, earliest, first_beat, last_beat);
        else if (tensor)
            tensor->accept(beats, earliest, first_beat, last_beat);
        else
            uop->accept(beats, earliest, first_beat, last_beat);
    }
};

// The in-flight bursts' last beats, at most `capacity` (a deque with a maxlen).
struct Ring {
    std::deque<i64> items;
    size_t capacity = 1;
    void append(i64 value) {
        if (items.size() == capacity) items.pop_front();
        items.push_back(value);
    }
};

struct ReadPort {
    Kernel *kernel;
    i64 bus, latency, boundary, longest;
    std::vector<Command *> pending;
    i64 last_grant = 0, free_at = 0, channel_free = 0, beats = 0;
    Ring ends;

    void post(i64 index, Command *command) {
        at(pending, index) = command;
        kernel->at_arbiter(std::max(command->posted, free_at));
    }

    void arbitrate() {
        i64 now = kernel->now, count = (i64)pending.size();
        while (now >= free_at) {
            i64 index = -1;
            for (i64 offset = 1; offset <= count; ++offset) {
                i64 candidate = (last_grant + offset) % count;
                Command *command = pending[candidate];
                if (command && command->posted <= now) {
                    index = candidate;
                    break;
                }
            }
            if (index < 0) {
                bool any = false;
                i64 earliest = 0;
                for (Command *command : pending)
                    if (command) {
                        earliest = any ? std::min(earliest, command->posted) : command->posted;
                        any = true;
                    }
                if (any) kernel->at_arbiter(earliest);
                return;
            }
            Command *command = pending[index];
            last_grant = index;
            grant(command, now);
            if (command->next < command->count)
                command->posted = now + 1;
            else
                pending[index] = nullptr;
            now = free_at;
            if (!kernel->quiet_until(now)) {
                kernel->at_arbiter(now);
                return;
            }
            kernel->now = now;
        }
    }

    void grant(Command *command, i64 now) {
        i64 addr = command->first + command->next * command->stride, words = command->words;
        command->next += 1;
        i64 outstanding = (i64)ends.capacity;
        i64 channel = channel_free;
        beats += words;
        i64 ar = now, last = now;
        while (words) {
            i64 count = next_burst(addr, words, boundary, longest, bus);
            ar += 1;
            if ((i64)ends.items.size() == outstanding && ends.items.front() >= ar)
                ar = ends.items.front() + 1;
            i64 earliest = ar + latency, first;
            command->accept(count, earliest > channel ? earliest : channel, first, last);
            channel = last + 1;
            ends.append(last);
        }
        channel_free = channel;
        free_at = ar + 1;
        if (command->next == command->count) {
            command->granted.fire(*kernel, now);
            command->done.fire(*kernel, last);
        }
    }
};

// -- the write port (write_port.py) ---------------------------------------------------------

struct WritePort {
    i64 latency, bus, boundary, longest, aw_to_w, issue_to_data, elem_bytes, words_per_tile;
    i64 cmd_free = 0, w_last = -1, b_last = -1, stall = 0, beats = 0;
    Ring ends;

    i64 idle_at() const { return std::max(b_last + 1, cmd_free); }

    i64 store(const Insn &insn, i64 start) {
        const i64 *f = insn.f;
        i64 row_words = f[x_size] * words_per_tile, rows = f[y_size];
        i64 base = f[dram_base] * elem_bytes, stride = f[x_stride] * elem_bytes;
        i64 post = start + 1, data_ready = start + issue_to_data;
        i64 w = std::max(w_last, data_ready - 1);
        for (i64 row = 0; row < rows; ++row) {
            i64 grant = std::max(post, cmd_free), aw = grant;
            i64 addr = base + row * stride, words = row_words;
            while (words) {
                i64 count = next_burst(addr, words, boundary, longest, bus);
                aw += 1;
                if (ends.items.size() == ends.capacity) aw = std::max(aw, ends.items.front() + 1);
                i64 first = std::max(std::max(w + 1, aw + aw_to_w), data_ready);
                stall += first - std::max(w + 1, data_ready);
                w = first + count - 1;
                ends.append(w);
                b_last = std::max(std::max(aw, w) + latency, b_last + 1);
                beats += count;
            }
            cmd_free = aw + 1;
            post = grant + 1;
        }
        w_last = w;
        return std::max(std::max(w + 1, cmd_free), start + 1);
    }
};

// -- micro-op banks (bank_conflicts.py) and footprints (footprints.py) ----------------------

std::pair<i64, i64> parities(i64 lo, i64 hi, i64 odd_step) {
    i64 count = std::max<i64>(0, hi - lo);
    if (!odd_step) return {count, 0};
    i64 odd = hi / 2 - lo / 2;
    return {count - odd, odd};
}

i64 same_bank(std::pair<i64, i64> outer, std::pair<i64, i64> inner, i64 parity) {
    auto [outer_even, outer_odd] = outer;
    auto [inner_even, inner_odd] = inner;
    if (parity) return outer_even * inner_odd + outer_odd * inner_even;
    return outer_even * inner_even + outer_odd * inner_odd;
}

struct UopBanks {
    const uint8_t *dram;
    i64 dram_size, depth, acc_mask, uop_bytes;
    i64 dst_lsb, dst_width, src_lsb, src_width;
    std::vector<i64> dst, src;

    void load(const Insn &insn) {
        i64 first = insn.f[dram_base] * uop_bytes, count = insn.f[x_size];
        for (i64 k = 0; k < count; ++k) {
            i64 offset = first + k * uop_bytes, word = 0;
            if (offset + uop_bytes <= dram_size) {
                uint32_t value;
                std::memcpy(&value, dram + offset, sizeof value);
                word = value;
            }
            i64 slot = (insn.f[sram_base] + k) % depth;
            dst[slot] = (word >> dst_lsb) & ((i64(1) << dst_width) - 1);
            src[slot] = (word >> src_lsb) & ((i64(1) << src_width) - 1);
        }
    }

    i64 conflicts(const Insn &insn) const {
        const i64 *f = insn.f;
        i64 first = f[uop_bgn], end = f[uop_end];
        if (f[iter_out] == 0 || f[iter_in] == 0 || first >= end) return 0;
        i64 stop = std::min(end, depth);        // numpy's slice of the table
        require(first < stop, "micro-op range outside the buffer");
        i64 a = (f[src_factor_out] ^ f[dst_factor_out]) & 1;
        i64 b = (f[src_factor_in] ^ f[dst_factor_in]) & 1;
        auto outer = parities(0, f[iter_out], a), inner = parities(0, f[iter_in], b);
        i64 odd = 0, fresh = 0;
        for (i64 k = first + 1; k < stop; ++k)
            if ((src[k] - src[k - 1]) & acc_mask) {
                fresh += 1;
                odd += (dst[k] ^ src[k]) & 1;
            }
        i64 even = fresh - odd;
        i64 total = same_bank(outer, inner, 0) * even + same_bank(outer, inner, 1) * odd;
        i64 head = src[first], tail = src[stop - 1], lead = (dst[first] ^ src[first]) & 1;
        total += lead == 0;
        if ((head + f[src_factor_in] - tail) & acc_mask)
            total += same_bank(outer, parities(1, f[iter_in], b), lead);
        if ((head + f[src_factor_out] - tail - (f[iter_in] - 1) * f[src_factor_in]) & acc_mask)
            total += same_bank(parities(1, f[iter_out], a), parities(0, 1, b), lead);
        return total;
    }
};

struct KernelEntry {
    bool present = false;
    i64 base = 0, end = 0, lo_dst = 0, hi_dst = 0, lo_src = 0, hi_src = 0;
};

struct Footprints {
    std::vector<KernelEntry> entries;
    i64 oldest = 0, uop_depth, half, acc_depth, opcode_alu;

    void load(const Insn &insn, const UopBanks &banks) {
        i64 base = insn.f[sram_base], end = base + insn.f[x_size];
        for (i64 n = 0; n < (i64)entries.size(); ++n) {
            KernelEntry &entry = entries[n];
            if (entry.present && n != oldest &&
                ((entry.base < end && base < entry.end) || end > uop_depth))
                entry.present = false;
        }
        KernelEntry fresh{true, base, end, 0, 0, 0, 0};
        for (i64 k = 0; k < insn.f[x_size]; ++k) {
            i64 slot = (base + k) % banks.depth, d = banks.dst[slot], s = banks.src[slot];
            fresh.lo_dst = k ? std::min(fresh.lo_dst, d) : d;
            fresh.hi_dst = k ? std::max(fresh.hi_dst, d) : d;
            fresh.lo_src = k ? std::min(fresh.lo_src, s) : s;
            fresh.hi_src = k ? std::max(fresh.hi_src, s) : s;
        }
        entries[oldest] = fresh;
        oldest = (oldest + 1) % (i64)entries.size();
    }

    i64 halves(i64 low, i64 high, i64 factor_out, i64 factor_in, const i64 *f) const {
        i64 top = high + (f[iter_out] - 1) * factor_out + (f[iter_in] - 1) * factor_in;
        bool beyond = top >= acc_depth;
        return i64(low < half || beyond) | (i64(top >= half || beyond) << 1);
    }

    i64 mask(const Insn &insn) const {
        const i64 *f = insn.f;
        i64 first = f[uop_bgn], end = f[uop_end];
        if (f[iter_out] == 0 || f[iter_in] == 0 || first >= end) return 0;
        const KernelEntry *found = nullptr;
        for (const KernelEntry &entry : entries)
            if (entry.present && entry.base <= first && end <= entry.end) {
                found = &entry;
                break;
            }
        if (!found) return 3;
        i64 result = halves(found->lo_dst, found->hi_dst, f[dst_factor_out], f[dst_factor_in], f);
        if (insn.opcode == opcode_alu && !f[use_imm])
            result |= halves(found->lo_src, found->hi_src, f[src_factor_out], f[src_factor_in], f);
        return result;
    }

    i64 load_halves(const Insn &insn) const {
        const i64 *f = insn.f;
        i64 rows = f[y_pad_0] + f[y_size] + f[y_pad_1];
        i64 cols = f[x_pad_0] + f[x_size] + f[x_pad_1];
        i64 end = f[sram_base] + rows * cols;
        bool beyond = end > acc_depth;
        return i64(f[sram_base] < half || beyond) | (i64(end > half || beyond) << 1);
    }
};

// -- the run (model.py `_Run`) --------------------------------------------------------------

struct Queue_ {
    std::vector<Event> visible, issued;
};

struct Tokens {
    std::vector<Event> available, taken;
    i64 pushed = 0, popped = 0;
};

struct Taken {
    Event *events[2];
    int count = 0;
};

struct Popped {
    i64 start;
    Taken taken;
};

struct Span {
    i64 start, last, entry, k, head;
};

struct Run {
    const i64 *p;
    std::vector<Insn> insns;
    Kernel kernel;
    ReadPort port;
    WritePort writes;
    UopBanks banks;
    Footprints footprints;
    FetchClient fetch;
    TensorClient inp, wgt, acc;
    UopClient uops;
    std::vector<std::vector<i64>> streams;      // instruction indices by module
    std::vector<Queue_> queues;
    std::vector<Tokens> tokens;
    std::vector<Event> routed;
    std::deque<Event> settled_events;
    std::vector<Process> processes;
    i64 fetch_busy = 0;
    std::vector<i64> busy, stall;
    // The compute units' last busy cycles and the compute instructions' spans (kept here: a
    // unit's pushes may outlive the compute process, as the Python closures do).
    i64 unit_final[2] = {-1, -1};
    std::deque<Span> spans;
    i64 end = UNFIRED;
    struct Blocked {
        i64 module, since, queue;
    };
    std::vector<Blocked> blocked;
    std::vector<i64> timeline;

    Wait wait(Event &event) { return Wait{&kernel, &event}; }
    bool is_loop(const Insn &insn) const {
        return insn.opcode == p[opcode_gemm] || insn.opcode == p[opcode_alu];
    }

    // -- fetch ------------------------------------------------------------------------------
    Process fetch_requests(i64 count, i64 addr) {
        i64 words_per_insn = p[insn_bytes] / p[bus_bytes];
        i64 buffer = p[fetch_buffer_depth], chunk = p[fetch_request_instructions];
        i64 post = p[start_to_fetch], requested = 0;
        while (requested < count) {
            i64 request = std::min(chunk, count - requested);
            i64 needed = requested - (buffer - request) - 1;
            if (needed >= 0) {
                Event &room = at(routed, needed);
                co_await wait(room);
                post = std::max(post, room.time + p[route_to_room]);
            }
            Command command;
            command.fetch = &fetch;
            command.first = addr, command.words = request * words_per_insn, command.posted = post;
            port.post(p[client_fetch], &command);
            co_await wait(command.granted);
            post = command.granted.time + 1;
            requested += request;
            addr += request * p[insn_bytes];
        }
        co_return 0;
    }

    Process router() {
        i64 time = -1, to_route = p[arrival_to_route], depth = p[command_queue_depth];
        bool overlap = false;
        std::vector<i64> index(p[modules], 0);
        for (i64 j = 0; j < (i64)insns.size(); ++j) {
            i64 name = insns[j].module;
            Event &arrival = at(fetch.arrivals, j);
            co_await wait(arrival);
            overlap = j > 0 && time >= arrival.time;
            time = std::max(time + 1, arrival.time + to_route);
            Queue_ &queue = queues[name];
            i64 k = index[name]++;
            if (k >= depth) {
                Event &freed = at(queue.issued, k - depth);
                co_await wait(freed);
                time = std::max(time, freed.time);
            }
            routed[j].fire(kernel, time);
            at(queue.visible, k).fire(kernel, time + p[arrival_to_head] - to_route);
        }
        fetch_busy = time + overlap;
        co_return 0;
    }

    // -- modules ----------------------------------------------------------------------------
    void record(i64 name, i64 k, i64 opcode, i64 head, i64 start, i64 done) {
        timeline.insert(timeline.end(), {name, k, opcode, head, start, done});
    }

    Process module(i64 name) {
        Queue_ &queue = queues[name];
        i64 free = 0;
        const std::vector<i64> &stream = streams[name];
        for (i64 k = 0; k < (i64)stream.size(); ++k) {
            const Insn &insn = insns[stream[k]];
            co_await wait(queue.visible[k]);
            i64 head = std::max(free, queue.visible[k].time), start = head;
            if (insn.pop_count) {
                Popped popped = co_await pop(name, insn, head);
                start = popped.start;
                took(popped.taken, start);
            }
            stall[name] += start - head;
            queue.issued[k].fire(kernel, start);
            i64 done;
            if (is_loop(insn))
                done = loop(insn, start);
            else
                done = co_await execute(insn, start);
            if (insn.opcode == p[opcode_finish]) end = start + p[finish_to_end];
            if (insn.push_count) done = co_await push(insn, done);
            busy[name] += done - start;
            record(name, k, insn.opcode, head, start, done);
            free = done + 1;
            if (end != UNFIRED && name == p[module_compute]) co_return 0;
        }
        co_return 0;
    }

    Task<Popped> pop(i64 name, const Insn &insn, i64 start) {
        Popped result{start, {}};
        for (int n = 0; n < insn.pop_count; ++n) {
            Tokens &queue = tokens[insn.pops[n]];
            if (queue.popped >= (i64)queue.available.size()) {
                blocked.push_back({name, result.start, insn.pops[n]});
                Event never;
                co_await wait(never);
            }
            Event &event = queue.available[queue.popped];
            result.taken.events[result.taken.count++] = &queue.taken[queue.popped];
            queue.popped += 1;
            co_await wait(event);
            result.start = std::max(result.start, event.time);
        }
        co_return result;
    }

    void took(const Taken &taken, i64 cycle) {
        for (int n = 0; n < taken.count; ++n) taken.events[n]->fire(kernel, cycle);
    }

    Task<i64> push(const Insn &insn, i64 cycle) {
        i64 depth = p[token_queue_depth], accepted = cycle;
        for (int n = 0; n < insn.push_count; ++n) {
            Tokens &queue = tokens[insn.pushes[n]];
            i64 when = cycle;
            if (queue.pushed >= depth) {
                Event &room = queue.taken[queue.pushed - depth];
                co_await wait(room);
                when = std::max(cycle, room.time + 1);
            }
            at(queue.available, queue.pushed).fire(kernel, when + 1);
            queue.pushed += 1;
            accepted = std::max(accepted, when);
        }
        co_return accepted;
    }

    Process overlapping_compute() {
        i64 name = p[module_compute];
        Queue_ &queue = queues[name];
        i64 *final_ = unit_final, masks[2] = {0, 0};
        const Insn *held[2] = {nullptr, nullptr};
        Event *settled[2] = {nullptr, nullptr};
        i64 free = 0;
        const std::vector<i64> &stream = streams[name];
        for (i64 k = 0; k < (i64)stream.size(); ++k) {
            const Insn &insn = insns[stream[k]];
            co_await wait(queue.visible[k]);
            i64 head = std::max(free, queue.visible[k].time), ready = head;
            Taken taken;
            if (insn.pop_count) {
                Popped popped = co_await pop(name, insn, head);
                ready = popped.start, taken = popped.taken;
            }
            stall[name] += ready - head;
            i64 start;
            if (is_loop(insn)) {
                int unit = insn.opcode == p[opcode_gemm] ? 0 : 1, peer = 1 - unit;
                i64 mask = footprints.mask(insn);
                if (settled[unit]) co_await wait(*settled[unit]);
                if (((mask & masks[peer]) || insn.push_count) && settled[peer])
                    co_await wait(*settled[peer]);
                start = std::max(ready, final_[unit] + 1);
                if (final_[peer] >= start && (mask & masks[peer])) start = final_[peer] + 1;
                i64 done = loop(insn, start);
                took(taken, start);
                queue.issued[k].fire(kernel, start);
                masks[unit] = mask, held[unit] = &insn, settled[unit] = nullptr;
                i64 last = final_[unit] = done;
                free = start + 1;
                spans.push_back({start, last, (i64)timeline.size() / TIMELINE_FIELDS, k, head});
                record(name, k, insn.opcode, head, start, last);
                if (insn.push_count) {
                    if (final_[peer] >= start) last = std::max(done, final_[peer] + 1);
                    if (must_wait(insn)) {
                        settled[unit] = &settled_events.emplace_back();
                        processes.push_back(unit_pushes(insn, &final_[unit], last,
                                                        settled[unit], &spans.back()));
                        kernel.resume(processes.back().handle, kernel.now);
                    } else {
                        i64 accepted = co_await push(insn, last);
                        final_[unit] = accepted;
                        spans.back().last = accepted;
                    }
                }
            } else {
                start = ready;
                for (int unit = 0; unit < 2; ++unit) {
                    if (!held[unit] || leaves_alone(insn, *held[unit], masks[unit])) continue;
                    if (settled[unit]) co_await wait(*settled[unit]);
                    start = std::max(start, final_[unit] + 1);
                }
                took(taken, start);
                queue.issued[k].fire(kernel, start);
                i64 done = co_await execute(insn, start);
                if (insn.opcode == p[opcode_load] && insn.f[memory_type] == p[memory_uop] &&
                    insn.f[x_size])
                    footprints.load(insn, banks);
                i64 last = insn.push_count ? co_await push(insn, done) : done;
                free = last + 1;
                spans.push_back({start, last, (i64)timeline.size() / TIMELINE_FIELDS, k, head});
                record(name, k, insn.opcode, head, start, last);
            }
            if (insn.opcode == p[opcode_finish]) {
                end = start + p[finish_to_end];
                break;
            }
        }
        i64 covered = 0;
        for (const Span &span : spans) {
            busy[name] += std::max<i64>(0, span.last - std::max(span.start, covered));
            covered = std::max(covered, span.last);
            i64 *entry = &timeline[span.entry * TIMELINE_FIELDS];
            entry[3] = span.head, entry[4] = span.start, entry[5] = span.last;
        }
        co_return 0;
    }

    bool must_wait(const Insn &insn) {
        i64 depth = p[token_queue_depth];
        for (int n = 0; n < insn.push_count; ++n) {
            Tokens &queue = tokens[insn.pushes[n]];
            if (queue.pushed >= depth) {
                i64 room = queue.taken[queue.pushed - depth].time;
                if (room == UNFIRED || room > kernel.now) return true;
            }
        }
        return false;
    }

    Process unit_pushes(const Insn &insn, i64 *final_, i64 cycle, Event *settled, Span *span) {
        i64 accepted = co_await push(insn, cycle);
        *final_ = accepted;
        span->last = accepted;
        settled->fire(kernel, accepted);
        co_return 0;
    }

    bool leaves_alone(const Insn &insn, const Insn &running, i64 mask) const {
        if (insn.opcode != p[opcode_load] || insn.push_count) return false;
        const i64 *f = insn.f;
        if (!f[x_size]) return true;
        if (f[memory_type] == p[memory_uop]) {
            i64 base = f[sram_base], stop = base + f[x_size];
            return stop <= p[uop_depth] &&
                   (stop <= running.f[uop_bgn] || running.f[uop_end] <= base);
        }
        return !(footprints.load_halves(insn) & mask);
    }

    Task<i64> execute(const Insn &insn, i64 start) {
        if (is_loop(insn)) co_return loop(insn, start);
        const i64 *f = insn.f;
        if (insn.opcode == p[opcode_store]) {
            i64 done = f[x_size] && f[y_size] ? writes.store(insn, start) : start + 1;
            if (f[push_prev_dep]) done = std::max(done, writes.idle_at());
            co_return done;
        }
        if (insn.opcode == p[opcode_load] && f[x_size]) {
            if (f[memory_type] == p[memory_uop]) co_return co_await uop_load(insn, start);
            co_return co_await tensor_load(insn, start);
        }
        co_return start + 1;
    }

    i64 loop(const Insn &insn, i64 start) const {
        const i64 *f = insn.f;
        i64 count = f[iter_out] * f[iter_in] * std::max<i64>(0, f[uop_end] - f[uop_bgn]);
        if (count == 0) return start + 1;
        bool gemm = insn.opcode == p[opcode_gemm];
        i64 last_issue = 1 + (count - 1) * (gemm ? p[gemm_interval] : p[alu_interval]);
        if (insn.opcode == p[opcode_alu] && !f[use_imm])
            last_issue += p[alu_bank_conflict_cycles] * banks.conflicts(insn);
        return start + last_issue + p[uop_pipeline_drain];
    }

    Task<i64> tensor_load(const Insn &insn, i64 start) {
        const i64 *f = insn.f;
        i64 kind = f[memory_type], client_index, elem_bytes;
        TensorClient *client;
        if (kind == p[memory_inp])
            client = &inp, client_index = p[client_inp], elem_bytes = p[elem_bytes_inp];
        else if (kind == p[memory_wgt])
            client = &wgt, client_index = p[client_wgt], elem_bytes = p[elem_bytes_wgt];
        else if (kind == p[memory_acc])
            client = &acc, client_index = p[client_acc], elem_bytes = p[elem_bytes_acc];
        else
            throw Unsupported("a LOAD of a memory type without a loader");
        client->start(insn, start);
        if (!f[y_size]) co_return std::max(client->writer, start + 2);
        Command command;
        command.tensor = client;
        command.first = f[dram_base] * elem_bytes;
        command.words = f[x_size] * client->words_per_tile;
        command.posted = start + 2;
        command.count = f[y_size];
        command.stride = f[x_stride] * elem_bytes;
        port.post(client_index, &command);
        co_await wait(command.done);
        co_return std::max(std::max(client->writer, command.granted.time + 1), start + 2);
    }

    Task<i64> uop_load(const Insn &insn, i64 start) {
        banks.load(insn);
        uops.start(insn, start);
        Command command;
        command.uop = &uops;
        command.first = insn.f[dram_base] * p[uop_bytes] / p[bus_bytes] * p[bus_bytes];
        command.words = uops.words(insn);
        command.posted = start + 1;
        port.post(p[client_uop], &command);
        co_await wait(command.done);
        co_return uops.writer;
    }

    void run(i64 insn_addr) {
        kernel.process_priority = p[priority_process];
        kernel.arbiter_priority = p[priority_arbiter];
        processes.push_back(fetch_requests((i64)insns.size(), insn_addr));
        processes.push_back(router());
        for (i64 name = 0; name < p[modules]; ++name)
            processes.push_back(name == p[module_compute] && p[overlap_kernels]
                                    ? overlapping_compute()
                                    : module(name));
        for (Process &process : processes) kernel.resume(process.handle, 0);
        while (!kernel.queue.empty()) {
            std::pop_heap(kernel.queue.begin(), kernel.queue.end(), Later());
            Entry entry = kernel.queue.back();
            kernel.queue.pop_back();
            kernel.now = entry.time;
            if (entry.process)
                entry.process.resume();
            else
                port.arbitrate();
        }
    }
};

// The instructions from their 16 bytes: fields by the layouts' (lsb, width, signed) per opcode.
i64 field_value(const uint64_t *words, const i64 *spec) {
    i64 lsb = spec[0], width = spec[1];
    if (width == 0) return 0;
    uint64_t lane = words[lsb / 64] >> (lsb % 64);
    uint64_t value = width >= 64 ? lane : lane & ((uint64_t(1) << width) - 1);
    if (spec[2] && width < 64 && (value >> (width - 1))) return i64(value) - (i64(1) << width);
    return i64(value);
}

void decode(Run &run, const uint8_t *raw, i64 count, const i64 *fields, const i64 *routes,
            const i64 *flag_queues) {
    const i64 *p = run.p;
    run.insns.resize(count);
    for (i64 n = 0; n < count; ++n) {
        uint64_t words[2];
        std::memcpy(words, raw + 16 * n, 16);
        Insn &insn = run.insns[n];
        insn.opcode = (i64)((words[0] >> p[opcode_lsb]) & ((uint64_t(1) << p[opcode_width]) - 1));
        require(insn.opcode < p[opcodes], "an opcode outside the table");
        for (int k = 0; k < FIELD_COUNT; ++k)
            insn.f[k] = field_value(words, fields + 3 * (insn.opcode * FIELD_COUNT + k));
        i64 kind = insn.f[memory_type];
        require(kind >= 0 && kind < p[memory_types], "a memory type outside the table");
        insn.module = routes[insn.opcode * p[memory_types] + kind];
        require(insn.module >= 0 && insn.module < p[modules], "an instruction of no module");
        for (int flag = 0; flag < FLAGS; ++flag) {
            if (!insn.f[flag]) continue;
            i64 queue = flag_queues[insn.module * FLAGS + flag];
            require(queue >= 0 && queue < p[token_queues], "a flag the module does not have");
            if (flag < 2)
                insn.pops[insn.pop_count++] = (int)queue;
            else
                insn.pushes[insn.push_count++] = (int)queue;
        }
    }
}

void setup(Run &run, const uint8_t *dram, i64 dram_size) {
    const i64 *p = run.p;
    require(p[bus_bytes] > 0 && p[insn_bytes] % p[bus_bytes] == 0 && p[uop_bytes] > 0 &&
                p[bus_bytes] % p[uop_bytes] == 0 && p[uop_depth] > 0 && p[modules] > 0,
            "a config the engine does not time");
    i64 count = (i64)run.insns.size();
    run.kernel.now = 0;
    ReadPort &port = run.port;
    port.kernel = &run.kernel;
    port.bus = p[bus_bytes], port.latency = p[read_latency];
    port.boundary = p[burst_boundary_bytes], port.longest = p[max_burst_beats];
    port.pending.assign(p[read_clients], nullptr);
    port.ends.capacity = (size_t)p[max_outstanding_reads];
    WritePort &writes = run.writes;
    writes.latency = p[write_latency], writes.bus = p[bus_bytes];
    writes.boundary = p[burst_boundary_bytes], writes.longest = p[max_burst_beats];
    writes.aw_to_w = p[aw_to_w], writes.issue_to_data = p[issue_to_data];
    writes.elem_bytes = p[elem_bytes_out], writes.words_per_tile = p[elem_bytes_out] / p[bus_bytes];
    writes.ends.capacity = (size_t)p[max_outstanding_writes];
    UopBanks &banks = run.banks;
    banks.dram = dram, banks.dram_size = dram_size;
    banks.depth = p[uop_depth], banks.acc_mask = p[acc_depth] - 1, banks.uop_bytes = p[uop_bytes];
    banks.dst_lsb = p[uop_dst_lsb], banks.dst_width = p[uop_dst_width];
    banks.src_lsb = p[uop_src_lsb], banks.src_width = p[uop_src_width];
    banks.dst.assign(p[uop_depth], 0);
    banks.src.assign(p[uop_depth], 0);
    run.footprints.entries.assign(std::max<i64>(p[overlap_kernels], 1), KernelEntry{});
    run.footprints.uop_depth = p[uop_depth];
    run.footprints.half = p[acc_depth] / 2;
    run.footprints.acc_depth = p[acc_depth];
    run.footprints.opcode_alu = p[opcode_alu];
    run.fetch.kernel = &run.kernel;
    run.fetch.words_per_insn = p[insn_bytes] / p[bus_bytes];
    run.fetch.arrivals.resize(count);
    run.inp.words_per_tile = p[elem_bytes_inp] / p[bus_bytes];
    run.wgt.words_per_tile = p[elem_bytes_wgt] / p[bus_bytes];
    run.acc.words_per_tile = p[elem_bytes_acc] / p[bus_bytes];
    run.uops.per_word = p[bus_bytes] / p[uop_bytes];
    run.streams.assign(p[modules], {});
    for (i64 n = 0; n < count; ++n) run.streams[run.insns[n].module].push_back(n);
    run.queues.resize(p[modules]);
    for (i64 name = 0; name < p[modules]; ++name) {
        run.queues[name].visible.resize(run.streams[name].size());
        run.queues[name].issued.resize(run.streams[name].size());
    }
    std::vector<i64> pushes(p[token_queues], 0);
    for (const Insn &insn : run.insns)
        for (int n = 0; n < insn.push_count; ++n) pushes[insn.pushes[n]] += 1;
    run.tokens.resize(p[token_queues]);
    for (i64 queue = 0; queue < p[token_queues]; ++queue) {
        run.tokens[queue].available.resize(pushes[queue]);
        run.tokens[queue].taken.resize(pushes[queue]);
    }
    run.routed.resize(count);
    run.busy.assign(p[modules], 0);
    run.stall.assign(p[modules], 0);
    run.timeline.reserve(TIMELINE_FIELDS * count);
}

void report(Run &run, i64 *results) {
    const i64 *p = run.p;
    results[timeline_entries] = (i64)run.timeline.size() / TIMELINE_FIELDS;
    results[read_beats] = run.port.beats;
    results[write_beats] = run.writes.beats;
    if (run.end == UNFIRED) {
        results[status] = DEADLOCK;
        results[blocked_module] = run.blocked.empty() ? -1 : run.blocked[0].module;
        results[blocked_queue] = run.blocked.empty() ? -1 : run.blocked[0].queue;
        return;
    }
    std::vector<i64> stall = run.stall;
    stall[p[module_load]] += run.inp.mem_wait + run.wgt.mem_wait;
    stall[p[module_compute]] += run.acc.mem_wait + run.uops.mem_wait;
    stall[p[module_store]] += run.writes.stall;
    for (const Run::Blocked &blocked : run.blocked)
        stall[blocked.module] += std::max<i64>(0, run.end - blocked.since);
    results[status] = REPORT;
    results[cycles] = run.end;
    results[fetch_busy] = run.fetch_busy;
    for (i64 name = 0; name < p[modules]; ++name) {
        results[RESULT_COUNT + 2 * name] = run.busy[name];
        results[RESULT_COUNT + 2 * name + 1] = stall[name];
    }
}

}  // namespace

extern "C" {

const char *pyvta_engine_parameters() { return PARAMETERS(NAME); }
const char *pyvta_engine_fields() { return FIELDS(NAME); }
const char *pyvta_engine_results() { return RESULTS(NAME); }
int pyvta_engine_timeline_fields() { return TIMELINE_FIELDS; }

// Times `count` instructions (16 bytes each at `raw`): returns 0 with `results` and
// `timeline` (count × TIMELINE_FIELDS) filled, or 1 when the engine cannot time the program
// (the caller runs the Python model), with the reason in `why` (`why_size` bytes).
int pyvta_engine_run(const i64 *parameters, const i64 *fields, const i64 *routes,
                     const i64 *flag_queues, const uint8_t *raw, i64 count, i64 insn_addr,
                     const uint8_t *dram, i64 dram_size, i64 *results, i64 *timeline, char *why,
                     i64 why_size) {
    try {
        Run run;
        run.p = parameters;
        decode(run, raw, count, fields, routes, flag_queues);
        setup(run, dram, dram_size);
        run.run(insn_addr);
        report(run, results);
        std::copy(run.timeline.begin(), run.timeline.end(), timeline);
        return 0;
    } catch (const std::exception &error) {
        if (why_size > 0) {
            std::strncpy(why, error.what(), why_size - 1);
            why[why_size - 1] = 0;
        }
        return 1;
    }
}
}
