/*
 * cparams: every kind of C module parameter, as Linux spells them, logged
 * with printf-style formats. modinfo shows each with its description and
 * type; `insmod cparams.ko count=5 mask=0xf0 offset=-3 limit=65536 verbose
 * name=disk` sets them before init runs, and a value out of range
 * (`count=2147483648`, `mask=-1`) is refused with a message naming the
 * parameter. `name` (charp) points at the kernel's own copy of the value,
 * freed with the module. It also exports cparams_scale() with a version that
 * modtool genksyms computes.
 */
#include <kabi.h>

MODULE_NAME("cparams");
MODULE_VERSION("1.0");
MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kernel authors");
MODULE_DESCRIPTION("Module parameters of every type, in C");

static int count = 1;
module_param(count, int, 0444);
MODULE_PARM_DESC(count, "how many lines to log");

static unsigned int mask = 0xff;
module_param(mask, uint, 0444);
MODULE_PARM_DESC(mask, "a bit mask");

static long offset = -1;
module_param(offset, long, 0444);
MODULE_PARM_DESC(offset, "a signed offset");

static unsigned long limit = 4096;
module_param(limit, ulong, 0444);
MODULE_PARM_DESC(limit, "a size limit");

static bool verbose;
module_param(verbose, bool, 0444);
MODULE_PARM_DESC(verbose, "log more");

static char *name = "world";
module_param(name, charp, 0444);
MODULE_PARM_DESC(name, "whom to greet");

/* The kernel's version of this export comes from its prototype. */
unsigned long cparams_scale(unsigned long value, unsigned int shift)
{
	return (value << shift) & mask;
}
EXPORT_SYMBOL_GPL(cparams_scale);

static int cparams_init(void)
{
	int i;

	pr_info("count=%d mask=0x%08x offset=%ld limit=%lu verbose=%d name=%s\n", count,
		mask, offset, limit, verbose, name);
	for (i = 0; i < count && i < 8; i++)
		pr_info("hello %d of %d, %s\n", i + 1, count, name);
	if (verbose)
		printk(KERN_DEBUG "verbose: limit %lu is %lx\n", limit, limit);
	return 0;
}

static int cparams_exit(void)
{
	pr_info("goodbye, %s\n", name);
	return 0;
}

module_init(cparams_init);
module_exit(cparams_exit);
