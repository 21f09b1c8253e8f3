/*
 * exitwork: a module whose exit queues a work item on another CPU and
 * returns (a bug Linux drivers have shipped: work queued into a module that
 * is about to go). The kernel must never run that work in freed memory: the
 * exit check sees the queued item (it is an object of the module) and keeps
 * the module, [failed], until the item has run; then `rmmod -f` frees it.
 */
#include <kabi.h>

MODULE_NAME("exitwork");
MODULE_VERSION("1.0");
MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kernel authors");
MODULE_DESCRIPTION("Queues work from its exit (a bug the kernel must survive)");

static volatile uint64_t ran;

static void late_work(void *ctx)
{
	(void)ctx;
	/* Long enough that the exit check runs while this is queued or running. */
	udelay(2000);
	ran++;
}

static int exitwork_init(void)
{
	return 0;
}

static int exitwork_exit(void)
{
	int32_t cpu = num_online_cpus() > 1 ? 1 : 0;

	queue_work_on(THIS_MODULE, cpu, late_work, NULL);
	return 0;
}

module_init(exitwork_init);
module_exit(exitwork_exit);
