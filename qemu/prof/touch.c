/* Which 2 MiB regions of guest-physical memory the guest writes, for QEMU
 * 7.2's TCG (plugin API version 1): for the first guest store into each
 * 2 MiB region, one line "REGION PC" (hex: the region's base and the
 * storing instruction's address) to the file named by the plugin argument
 * out=PATH (default touch.out), written as each is found.
 *
 * Why: QEMU backs guest RAM with 2 MiB transparent huge pages, so the first
 * write to each region makes the host fault in and zero one (about 4 ms on
 * the project's host, more than translating 500 blocks). The regions QEMU's
 * loader wrote (the Image, the DTB, the initrd) are paid for by every boot,
 * the floor's too; tests/tests/hugepages.rs checks the kernel writes no
 * other. QEMU's own writes (device DMA) are not guest stores and do not
 * appear. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
struct qemu_plugin_hwaddr;
typedef struct { int dummy; } qemu_info_t;
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info,
                                          uint64_t vaddr, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
/* flags: QEMU_PLUGIN_CB_NO_REGS = 0; rw: QEMU_PLUGIN_MEM_W = 2 */
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      int flags, int rw, void *userdata);
int qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);
struct qemu_plugin_hwaddr *qemu_plugin_get_hwaddr(qemu_plugin_meminfo_t info, uint64_t vaddr);
uint64_t qemu_plugin_hwaddr_phys_addr(const struct qemu_plugin_hwaddr *haddr);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define REGION_SHIFT 21
/* Regions below 1 TiB (the virt machine's RAM starts at 1 GiB). */
static unsigned char seen[1 << (40 - REGION_SHIFT)];
static FILE *out;

/* Stores from several vCPUs may race on `seen`: a region reported twice is
 * harmless, and the tests read a set. */
static void on_store(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *pc)
{
    (void)vcpu;
    if (!qemu_plugin_mem_is_store(info)) {
        return;
    }
    struct qemu_plugin_hwaddr *h = qemu_plugin_get_hwaddr(info, vaddr);
    uint64_t pa = h ? qemu_plugin_hwaddr_phys_addr(h) : vaddr;
    uint64_t region = pa >> REGION_SHIFT;
    if (region < sizeof seen && !seen[region]) {
        seen[region] = 1;
        fprintf(out, "%llx %llx\n", (unsigned long long)(region << REGION_SHIFT),
                (unsigned long long)(uintptr_t)pc);
        fflush(out);
    }
}

static void on_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    for (size_t i = 0; i < qemu_plugin_tb_n_insns(tb); i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        qemu_plugin_register_vcpu_mem_cb(insn, on_store, 0, 2,
                                         (void *)(uintptr_t)qemu_plugin_insn_vaddr(insn));
    }
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
    const char *path = "touch.out";
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
