/*
 * hello_c: a module written in C against kernel/abi/include/kabi.h. Exercises
 * the C side of the ABI: .modinfo and __versions from the header's macros,
 * THIS_MODULE, printk, and a character device (helloc0) whose reads return
 * "Hello from C\n". Loads, reads and unloads exactly like a Rust module.
 */
#include <kabi.h>

MODULE_NAME("hello_c");
MODULE_VERSION("1.0");
MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kernel authors");
MODULE_DESCRIPTION("Says hello from C; registers /dev/helloc0");
MODULE_ABI();
MODULE_VERSION_OF(printk);
MODULE_VERSION_OF(register_device);
MODULE_VERSION_OF(unregister_device);

static const char greeting[] = "Hello from C\n";
static int32_t device_id;

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

	if (id < 0)
		return id;
	device_id = id;
	pr_info("Hello from C");
	return 0;
}

static int hello_c_exit(void)
{
	int32_t r = unregister_device(THIS_MODULE, device_id);

	if (r < 0)
		return r;
	pr_info("Goodbye from C");
	return 0;
}

module_init(hello_c_init);
module_exit(hello_c_exit);
