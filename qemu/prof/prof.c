/* Guest instruction profile for QEMU 7.2's TCG (plugin API version 1):
 * counts the executions of every translated block and, at exit, writes one
 * line per guest instruction executed, "pc count", to $PROF_OUT (prof.out).
 * With PROF_CALLEES=addr,addr (hex, up to 16 function entry points) it also
 * writes edges.out: "callee caller_pc count", the block executed before each
 * entry (who called it). qemu/prof/run.sh builds and runs it; agg.py sums
 * the counts per function of build/kernel.elf. The declarations below are the
 * few of qemu-plugin.h this uses (Debian ships no header). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb; struct qemu_plugin_insn;
typedef struct { int dummy; } qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr, uint64_t imm);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb, enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;

struct rec { uint64_t count; int callee; uint64_t n; uint64_t *pcs; struct rec *next; };
static struct rec *head;
static uint64_t callees[16]; static int ncallees;
#define NE 65536
static struct { uint64_t callee, caller, n; } edges[NE];
static struct rec *last;
static void exec_cb(unsigned int v, void *u) {
    struct rec *r = u;
    if (r->callee && last) {
        uint64_t caller = last->pcs[last->n-1];
        unsigned h = (caller * 0x9E3779B97F4A7C15ull) >> 48;
        for (;;) { if (!edges[h].n) { edges[h].callee=r->pcs[0]; edges[h].caller=caller; }
                   if (edges[h].caller==caller && edges[h].callee==r->pcs[0]) { edges[h].n++; break; }
                   h = (h+1) & (NE-1); }
    }
    last = r;
}

static void trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    struct rec *r = calloc(1, sizeof *r);
    r->n = qemu_plugin_tb_n_insns(tb);
    r->pcs = malloc(r->n * 8);
    for (size_t i = 0; i < r->n; i++) r->pcs[i] = qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, i));
    r->next = head; head = r;
    for (int i = 0; i < ncallees; i++) if (callees[i] == r->pcs[0]) r->callee = 1;
    if (ncallees) qemu_plugin_register_vcpu_tb_exec_cb(tb, exec_cb, QEMU_PLUGIN_CB_NO_REGS, r);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &r->count, 1);
}
static void at_exit(qemu_plugin_id_t id, void *p) {
    const char *path = getenv("PROF_OUT"); FILE *f = fopen(path ? path : "prof.out", "w");
    for (struct rec *r = head; r; r = r->next) {
        if (!r->count) continue;
        for (size_t i = 0; i < r->n; i++) fprintf(f, "%lx %lu\n", (unsigned long)r->pcs[i], (unsigned long)r->count);
    }
    fclose(f);
    f = fopen("edges.out","w");
    for (int i = 0; i < NE; i++) if (edges[i].n) fprintf(f, "%lx %lx %lu\n", (unsigned long)edges[i].callee, (unsigned long)edges[i].caller, (unsigned long)edges[i].n);
    fclose(f);
}
__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    const char *c = getenv("PROF_CALLEES");
    while (c && *c && ncallees < 16) { char *e; callees[ncallees++] = strtoull(c, &e, 16); c = *e ? e+1 : e; }
    qemu_plugin_register_vcpu_tb_trans_cb(id, trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
