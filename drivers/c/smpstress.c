/*
 * smpstress: objects for the SMP unload stress test (`smpstress` at the
 * shell). A character device stress0 whose reads count under a spin lock; a
 * 1 ms periodic timer that queues a work item on some CPU each time it fires
 * (at most SLOTS outstanding); the work items count too. Exit unregisters the
 * device (refused while it is open), shuts the timer down and cancels every
 * work item still outstanding, waiting for those running, so nothing of the
 * module runs after it returns.
 */
#include <kabi.h>

MODULE_NAME("smpstress");
MODULE_VERSION("1.0");
MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kernel authors");
MODULE_DESCRIPTION("Device, timer and work items for the SMP unload stress test");

#define SLOTS 32

static DEFINE_SPINLOCK(lock);
static uint64_t reads, works, fires, skipped;
static int64_t slot_id[SLOTS]; /* 0: free */
static int64_t timer_id;
static int32_t device_id;

static void stress_work(void *ctx)
{
	uint64_t flags = spin_lock_irqsave(&lock);

	(void)ctx;
	works++;
	spin_unlock_irqrestore(&lock, flags);
}

static void stress_tick(void *ctx)
{
	uint64_t flags;
	int64_t id, old;
	unsigned int slot = (unsigned int)(fires % SLOTS);

	(void)ctx;
	flags = spin_lock_irqsave(&lock);
	fires++;
	old = slot_id[slot];
	slot_id[slot] = 0;
	spin_unlock_irqrestore(&lock, flags);
	/* The slot's previous item has surely run by now; make sure. */
	if (old > 0 && cancel_work_sync(THIS_MODULE, old) < 0) {
		skipped++;
		return;
	}
	id = queue_work_on(THIS_MODULE, -1, stress_work, NULL);
	flags = spin_lock_irqsave(&lock);
	if (id > 0)
		slot_id[slot] = id;
	else
		skipped++;
	spin_unlock_irqrestore(&lock, flags);
}

static intptr_t stress_read(void *ctx, char *buf, size_t len, uint64_t offset)
{
	char text[96];
	uint64_t flags = spin_lock_irqsave(&lock);
	int total;
	size_t i, n;

	(void)ctx;
	reads++;
	total = kabi_snprintf(text, sizeof(text), "%llu reads %llu works %llu fires cpu %u\n",
			      (unsigned long long)reads, (unsigned long long)works,
			      (unsigned long long)fires, smp_processor_id());
	spin_unlock_irqrestore(&lock, flags);
	if (total < 0 || offset >= (uint64_t)total)
		return 0;
	n = (size_t)total - (size_t)offset;
	if (n > len)
		n = len;
	for (i = 0; i < n; i++)
		buf[i] = text[offset + i];
	return (intptr_t)n;
}

static const struct device_ops stress_ops = {
	.read = stress_read,
};

static int stress_init(void)
{
	struct device_desc desc = {
		.kind = DEVICE_KIND_CHAR,
		.name = "stress0",
		.ops = &stress_ops,
	};
	int32_t id = register_device(THIS_MODULE, &desc);

	if (id < 0)
		return id;
	device_id = id;
	timer_id = timer_add(THIS_MODULE, 1000, 1000, stress_tick, NULL);
	if (timer_id < 0) {
		unregister_device(THIS_MODULE, device_id);
		return (int)timer_id;
	}
	return 0;
}

static int stress_exit(void)
{
	int32_t r = unregister_device(THIS_MODULE, device_id);
	unsigned int i;

	if (r < 0)
		return r;
	timer_del(THIS_MODULE, timer_id);
	for (i = 0; i < SLOTS; i++) {
		if (slot_id[i] > 0)
			cancel_work_sync(THIS_MODULE, slot_id[i]);
		slot_id[i] = 0;
	}
	return 0;
}

module_init(stress_init);
module_exit(stress_exit);
