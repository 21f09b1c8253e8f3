/* Translated-block count for QEMU 7.2's TCG (plugin API version 1): counts
 * every block TCG translates and the guest instructions in it, and at exit
 * writes "blocks N instructions M" to the file named by the plugin argument
 * out=PATH (default blocks.out).
 *
 * Why: under TCG, boot and first-load real time follow how much distinct
 * code the guest runs, and translating a block costs several microseconds
 * whatever its length (measured with images of N blocks of K instructions:
 * about 7-9 us a block plus 0.2 us an instruction on the project's 2-core
 * host), while executing translated code costs nanoseconds. The count repeats
 * exactly from run to run, unlike wall time on a shared host. `bench
 * --boot-only` prints it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct { int dummy; } qemu_info_t;
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t blocks, insns;
static const char *out_path = "blocks.out";

/* Translation is serialised by TCG (one translation at a time), so plain
 * counters are enough. */
static void on_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    blocks++;
    insns += qemu_plugin_tb_n_insns(tb);
}

static void on_exit_cb(qemu_plugin_id_t id, void *u)
{
    (void)id;
    (void)u;
    FILE *f = fopen(out_path, "w");
    if (f) {
        fprintf(f, "blocks %llu instructions %llu\n", (unsigned long long)blocks,
                (unsigned long long)insns);
        fclose(f);
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const qemu_info_t *info,
                                                               int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            out_path = argv[i] + 4;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_trans);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    return 0;
}
