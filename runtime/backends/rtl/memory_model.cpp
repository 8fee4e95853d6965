// The C ABI of the memory model (memory_model.h), for memory_model.py.
#include "memory_model.h"

#include <algorithm>

extern "C" {

void* vta_memory_new(uint8_t* dram, uint64_t size, const vta::MemoryParameters* parameters) {
    try {
        return new vta::MemoryModel(dram, size, *parameters);
    } catch (const std::exception&) {
        return nullptr;
    }
}

void vta_memory_free(void* model) { delete static_cast<vta::MemoryModel*>(model); }

int vta_memory_step(void* model, uint64_t edge, const vta::AxiSample* sample, vta::AxiOutputs* outputs,
                    char* error, uint64_t error_size) {
    auto* memory = static_cast<vta::MemoryModel*>(model);
    try {
        memory->step(edge, *sample);
    } catch (const vta::ModelError& failure) {
        std::string message = failure.what();
        size_t length = std::min<size_t>(message.size(), error_size - 1);
        std::memcpy(error, message.data(), length);
        error[length] = 0;
        return failure.bounds ? 2 : 1;
    }
    *outputs = memory->out;
    return 0;
}

int vta_memory_idle(void* model) { return static_cast<vta::MemoryModel*>(model)->idle(); }
}
