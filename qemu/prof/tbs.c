/* Which blocks TCG translates, for QEMU 7.2 (plugin API version 1): writes
 * one line per translated block, "ADDRESS INSTRUCTIONS" (hex, decimal), in
 * translation order, to the file named by the plugin argument out=PATH
 * (default tbs.out). qemu/prof/tbs.py maps the addresses to the kernel's
 * functions, inlined ones included.
 *
 * Why: boot real time under TCG follows the number of distinct blocks
 * translated (qemu/prof/blocks.c counts them); this says which code they
 * are, so a change can aim at the functions that cost blocks. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct { int dummy; } qemu_info_t;
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static FILE *out;

/* Translation is serialised by TCG, so one stream needs no lock. */
static void on_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    fprintf(out, "%llx %zu\n", (unsigned long long)qemu_plugin_tb_vaddr(tb),
            qemu_plugin_tb_n_insns(tb));
}

static void on_exit_cb(qemu_plugin_id_t id, void *u)
{
    (void)id;
    (void)u;
    fclose(out);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const qemu_info_t *info,
                                                               int argc, char **argv)
{
    const char *path = "tbs.out";
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            path = argv[i] + 4;
        }
    }
    out = fopen(path, "w");
    if (!out) {
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_trans);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    return 0;
}
