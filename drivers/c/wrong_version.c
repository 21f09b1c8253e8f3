/*
 * wrong_version: a C module "built against another header". It is hello_c's
 * shape, but its __versions entry for printk carries a CRC that differs from
 * the kernel's (this header's KABI_CRC_printk with the low bit flipped), as if
 * printk's signature had changed since. The kernel must refuse to load it:
 *     wrong_version: disagrees about version of symbol printk
 * and nothing of it may remain.
 */
#include <kabi.h>

MODULE_NAME("wrong_version");
MODULE_VERSION("1.0");
MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kernel authors");
MODULE_DESCRIPTION("Records a wrong version of printk; must be refused");
MODULE_ABI();
MODULE_VERSION_CRC(printk, KABI_CRC_printk ^ 1u);
MODULE_VERSION_OF(register_device);
MODULE_VERSION_OF(unregister_device);

static int32_t device_id;

static const struct device_ops wrong_ops = { 0 };

static int wrong_version_init(void)
{
	struct device_desc desc = {
		.kind = DEVICE_KIND_CHAR,
		.name = "wrongver0",
		.ops = &wrong_ops,
	};
	int32_t id = register_device(THIS_MODULE, &desc);

	if (id < 0)
		return id;
	device_id = id;
	pr_info("loaded despite a wrong printk version (the kernel should have refused)");
	return 0;
}

static int wrong_version_exit(void)
{
	int32_t r = unregister_device(THIS_MODULE, device_id);

	return r < 0 ? r : 0;
}

module_init(wrong_version_init);
module_exit(wrong_version_exit);
