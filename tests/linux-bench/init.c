/*
 * /init for `make bench-linux`: times Linux's own module load and unload of the
 * drivers our kernel ships as modules, then powers the machine off.
 *
 * Built static for aarch64 by tests/linux-bench/prepare.sh and run as the only
 * process of a Debian 6.1 arm64 kernel booted on the same QEMU machine as ours.
 * For each module it opens the .ko once, then runs one warm-up cycle and N timed
 * cycles of finit_module(fd, "", 0) and delete_module(name, O_NONBLOCK | O_TRUNC)
 * (the flags kmod's rmmod passes), each call timed alone with
 * clock_gettime(CLOCK_MONOTONIC). Order: virtio_mmio with no virtio device driver
 * loaded; then, with virtio_mmio loaded, virtio_blk and virtio_rng, which bind the
 * virtio-blk and virtio-rng devices QEMU attaches.
 *
 * Output, one record a line, parsed by tests/src/linux_bench.rs:
 *   linuxbench: boot_to_init_us=U uptime_s=S
 *   linuxbench: module=M op=insmod|rmmod n=N min_us=A median_us=B mean_us=C
 *   linuxbench: bound module=M devices=virtio0,...|none
 *   linuxbench: error module=M op=OP errno=E (TEXT)
 *   linuxbench: done
 * N comes from the kernel command line's `linuxbench_cycles=N` (an environment
 * variable to init; default 100; 0 only reports the boot time).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_CYCLES 10000

static double now_us(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void report(const char *name, const char *op, double *us, int n)
{
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += us[i];
	qsort(us, n, sizeof(*us), cmp_double);
	printf("linuxbench: module=%s op=%s n=%d min_us=%.1f median_us=%.1f mean_us=%.1f\n",
	       name, op, n, us[0], us[n / 2], sum / n);
}

static int insmod(int fd)
{
	return syscall(SYS_finit_module, fd, "", 0);
}

static int rmmod(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK | O_TRUNC);
}

static void error(const char *name, const char *op)
{
	int e = errno;
	printf("linuxbench: error module=%s op=%s errno=%d (%s)\n", name, op, e, strerror(e));
}

static double insmod_us[MAX_CYCLES + 1], rmmod_us[MAX_CYCLES + 1];

/* One warm-up cycle, then n timed ones. Returns 0, or -1 after printing why. */
static int cycle(const char *path, const char *name, int n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		error(name, "open");
		return -1;
	}
	for (int i = 0; i <= n; i++) {
		double t0 = now_us(CLOCK_MONOTONIC);
		if (insmod(fd) != 0) {
			error(name, "insmod");
			close(fd);
			return -1;
		}
		double t1 = now_us(CLOCK_MONOTONIC);
		if (rmmod(name) != 0) {
			error(name, "rmmod");
			close(fd);
			return -1;
		}
		double t2 = now_us(CLOCK_MONOTONIC);
		insmod_us[i] = t1 - t0;
		rmmod_us[i] = t2 - t1;
	}
	close(fd);
	if (n > 0) {
		report(name, "insmod", insmod_us + 1, n);
		report(name, "rmmod", rmmod_us + 1, n);
	}
	return 0;
}

/* Says which devices a driver bound: the virtioN links in its sysfs directory. */
static void bound(const char *name)
{
	char dir[128], devices[256] = "";
	snprintf(dir, sizeof(dir), "/sys/bus/virtio/drivers/%s", name);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "virtio", 6) == 0 &&
		    strlen(devices) + strlen(e->d_name) + 2 < sizeof(devices)) {
			strcat(devices, devices[0] ? "," : "");
			strcat(devices, e->d_name);
		}
	}
	if (d)
		closedir(d);
	printf("linuxbench: bound module=%s devices=%s\n", name, devices[0] ? devices : "none");
}

/* Loads a module once, says what it bound, and unloads it. */
static void probe_check(const char *ko, const char *name)
{
	int fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || insmod(fd) != 0) {
		error(name, "insmod");
	} else {
		bound(name);
		if (rmmod(name) != 0)
			error(name, "rmmod");
	}
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	double boot_us = now_us(CLOCK_BOOTTIME);

	/* The kernel opens /dev/console from its built-in initramfs before running
	 * us; if that failed, get a console from devtmpfs. */
	if (fcntl(1, F_GETFD) < 0) {
		mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
		int fd = open("/dev/console", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);

	char uptime[64] = "?";
	FILE *f = fopen("/proc/uptime", "r");
	if (f) {
		if (fscanf(f, "%63s", uptime) != 1)
			strcpy(uptime, "?");
		fclose(f);
	}
	printf("linuxbench: boot_to_init_us=%.0f uptime_s=%s\n", boot_us, uptime);

	const char *env = getenv("linuxbench_cycles");
	int n = env ? atoi(env) : 100;
	if (n < 0 || n > MAX_CYCLES)
		n = 100;

	if (n > 0 && cycle("/lib/modules/virtio_mmio.ko", "virtio_mmio", n) == 0) {
		int mmio = open("/lib/modules/virtio_mmio.ko", O_RDONLY | O_CLOEXEC);
		if (mmio < 0 || insmod(mmio) != 0) {
			error("virtio_mmio", "insmod");
		} else {
			probe_check("/lib/modules/virtio_blk.ko", "virtio_blk");
			probe_check("/lib/modules/virtio-rng.ko", "virtio_rng");
			cycle("/lib/modules/virtio_blk.ko", "virtio_blk", n);
			cycle("/lib/modules/virtio-rng.ko", "virtio_rng", n);
			if (rmmod("virtio_mmio") != 0)
				error("virtio_mmio", "rmmod");
		}
		if (mmio >= 0)
			close(mmio);
	}
	printf("linuxbench: done\n");
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
