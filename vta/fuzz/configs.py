"""The configs a campaign fuzzes by default: both presets' geometries and buses, batch 2,
blocks of 8 and 32, a config without the multiply, one with tiny buffers whose every field
reaches its limit (SRAM indices, factors and micro-op indices at their widths' maxima), int4
and int2 operands, and tiles with BLOCK_IN ≠ BLOCK_OUT (narrow configs halve the INP/WGT
buffers where the doubled depths would not fit the 32-bit micro-op)."""

from __future__ import annotations

from vta.isa import Config

PYNQ = Config.preset("pynq")

CONFIGS = {
    "pynq": PYNQ,                                                     # 1x16, 64-bit bus
    "ultra96": Config.preset("ultra96"),                              # 1x16, 128-bit bus
    "1x32": PYNQ.replace(LOG_BLOCK=5, MEM_READ_LATENCY=8, MEM_WRITE_LATENCY=4),
    "2x16": PYNQ.replace(LOG_BATCH=1, LOG_BUS_WIDTH=7),
    "1x8": PYNQ.replace(LOG_BLOCK=3, LOG_INP_BUFF_SIZE=13, LOG_WGT_BUFF_SIZE=14,
                        LOG_ACC_BUFF_SIZE=15),
    "no-mul": PYNQ.replace(ALU_MUL=False, MEM_READ_LATENCY=1, MEM_WRITE_LATENCY=1),
    "tiny": PYNQ.replace(LOG_UOP_BUFF_SIZE=7, LOG_INP_BUFF_SIZE=8, LOG_WGT_BUFF_SIZE=11,
                         LOG_ACC_BUFF_SIZE=10, LOG_BUS_WIDTH=5),
    "int4": PYNQ.replace(LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2, LOG_INP_BUFF_SIZE=14,
                         LOG_WGT_BUFF_SIZE=17),
    "1x8x16": PYNQ.replace(LOG_BLOCK_IN=3, LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=17),
    "2x16x8-i4w8": PYNQ.replace(LOG_BATCH=1, LOG_BLOCK_OUT=3, LOG_INP_WIDTH=2,
                                LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=17, LOG_ACC_BUFF_SIZE=16),
    "2x8-int2": PYNQ.replace(LOG_BATCH=1, LOG_BLOCK=3, LOG_INP_WIDTH=1, LOG_WGT_WIDTH=1,
                             LOG_INP_BUFF_SIZE=12, LOG_WGT_BUFF_SIZE=14, LOG_ACC_BUFF_SIZE=16,
                             LOG_BUS_WIDTH=5),
}
