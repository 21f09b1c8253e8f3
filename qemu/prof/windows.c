/* Per-vCPU instruction windows for QEMU 7.2's TCG (plugin API version 1).
 *
 * Under -icount every vCPU's instructions advance one shared guest clock, so
 * a figure timed on CPU 0 while CPUs 1-3 are busy counts theirs too. This
 * plugin counts, for each vCPU separately, the instructions it executes
 * between two marker instructions the kernel places around what it measures
 * (`arch::cpu::mark_window`): `hint #(0x70 + 2*w)` opens window w on the vCPU
 * that executes it, `hint #(0x71 + 2*w)` closes it (w = 0..7). Those HINT
 * encodings are unallocated, so a CPU executes them as NOP (Arm ARM C6.2.110,
 * HINT: "unallocated encodings ... behave as NOP"); without the plugin they
 * cost one instruction.
 *
 * Counting is per translated block, added when the block starts, so a
 * window's total is exact to within the length of the blocks holding its two
 * markers (a few instructions). At exit it writes $WINDOWS_OUT
 * (default windows.out): one line per window and vCPU that closed it at least once,
 * "window W vcpu V closed N instructions T" (or to the file named by the
 * plugin argument out=PATH: `-plugin libwindows.so,out=PATH`). Runs under MTTCG: each vCPU
 * touches only its own slot. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb; struct qemu_plugin_insn;
typedef struct { int dummy; } qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb, enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb, enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define VCPUS 64
#define WINDOWS 8
/* HINT #imm is 0xd503201f | imm << 5 (Arm ARM C6.2.110). */
#define HINT(imm) (0xd503201fu | ((uint32_t)(imm) << 5))

struct vcpu {
    uint64_t insns;                 /* every instruction this vCPU executed */
    uint64_t open[WINDOWS];         /* insns when the window opened */
    int is_open[WINDOWS];
    uint64_t total[WINDOWS], closed[WINDOWS];
    char pad[64];
};
static struct vcpu cpus[VCPUS];

static void tb_exec(unsigned int v, void *n) {
    if (v < VCPUS) cpus[v].insns += (uintptr_t)n;
}

static void marker(unsigned int v, void *u) {
    uintptr_t m = (uintptr_t)u;
    unsigned w = m >> 1;
    if (v >= VCPUS) return;
    struct vcpu *c = &cpus[v];
    if (!(m & 1)) {
        c->open[w] = c->insns;
        c->is_open[w] = 1;
    } else if (c->is_open[w]) {
        c->total[w] += c->insns - c->open[w];
        c->closed[w]++;
        c->is_open[w] = 0;
    }
}

static void trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)n);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint32_t word;
        if (qemu_plugin_insn_size(insn) != 4) continue;
        memcpy(&word, qemu_plugin_insn_data(insn), 4);
        for (unsigned m = 0; m < 2 * WINDOWS; m++)
            if (word == HINT(0x70 + m))
                qemu_plugin_register_vcpu_insn_exec_cb(insn, marker, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)m);
    }
}

static const char *out_path = "windows.out";

static void at_exit(qemu_plugin_id_t id, void *p) {
    const char *env = getenv("WINDOWS_OUT");
    FILE *f = fopen(env ? env : out_path, "w");
    if (!f) return;
    for (unsigned v = 0; v < VCPUS; v++)
        for (unsigned w = 0; w < WINDOWS; w++)
            if (cpus[v].closed[w])
                fprintf(f, "window %u vcpu %u closed %lu instructions %lu\n", w, v,
                        (unsigned long)cpus[v].closed[w], (unsigned long)cpus[v].total[w]);
    fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strncmp(argv[i], "out=", 4)) out_path = strdup(argv[i] + 4);
    qemu_plugin_register_vcpu_tb_trans_cb(id, trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
