/*
 * hello_c: a module written in C against kernel/abi/include/kabi.h, as a Linux
 * author would write it. It logs with printf-style pr_info()/printk(KERN_...),
 * takes a bool parameter, registers a character device (helloc0) whose reads
 * return "Hello from C\n", and exports hello_c_add() for other modules (the
 * Rust module user_of_hello_c calls it). It has no MODULE_ABI() and no
 * MODULE_VERSION_OF lines: `modtool modpost` adds abi= and the __versions
 * entry of every kernel function it calls; `modtool genksyms` computes
 * hello_c_add's version from its prototype.
 */
#include <kabi.h>

MODULE_NAME("hello_c");
MODULE_VERSION("1.0");
MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kernel authors");
MODULE_DESCRIPTION("Says hello from C; registers /dev/helloc0; exports hello_c_add");

static bool shout;
module_param(shout, bool, 0444);
MODULE_PARM_DESC(shout, "greet in capitals");

static const char greeting[] = "Hello from C\n";
static int32_t device_id;

/* Exported: a Rust module imports it with
 *     kabi::import_version!(hello_c_add, "(a: i32, b: i32) -> i32") */
int hello_c_add(int a, int b)
{
	return a + b;
}
EXPORT_SYMBOL(hello_c_add);

static intptr_t helloc_read(void *ctx, char *buf, size_t len, uint64_t offset)
{
	size_t total = sizeof(greeting) - 1;
	size_t n, i;

	(void)ctx;
	if (offset >= total)
		return 0;
	n = total - (size_t)offset;
	if (n > len)
		n = len;
	for (i = 0; i < n; i++)
		buf[i] = greeting[offset + i];
	return (intptr_t)n;
}

static const struct device_ops helloc_ops = {
	.read = helloc_read,
};

static int hello_c_init(void)
{
	struct device_desc desc = {
		.kind = DEVICE_KIND_CHAR,
		.name = "helloc0",
		.ops = &helloc_ops,
	};
	int32_t id = register_device(THIS_MODULE, &desc);

	if (id < 0) {
		pr_err("cannot register helloc0: error %d\n", id);
		return id;
	}
	device_id = id;
	pr_debug("helloc0 is device %d\n", id); /* dmesg only, at loglevel 7 */
	pr_info("%s\n", shout ? "HELLO FROM C" : "Hello from C");
	pr_info("read %zu bytes at %llx: %s\n", sizeof(greeting) - 1, 0x1000ULL, desc.name);
	printk(KERN_NOTICE "device %d, [%-5s|%5s] [%05d] [%x/%X] %c %u%%\n", id, "ab", "cd",
	       -42, 0xbeefu, 0xbeefu, 'z', 100u);
	pr_info("limits: %lld %llu %d\n", (long long)INT64_MIN, (unsigned long long)UINT64_MAX,
		INT32_MIN);
	return 0;
}

static int hello_c_exit(void)
{
	int32_t r = unregister_device(THIS_MODULE, device_id);

	if (r < 0)
		return r;
	pr_info("Goodbye from C\n");
	return 0;
}

module_init(hello_c_init);
module_exit(hello_c_exit);
