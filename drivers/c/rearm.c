/*
 * rearm: a one-shot timer whose callback arms the next one (every 1 ms), as
 * drivers that re-arm from the callback do. Exit deletes the current timer
 * until no new one appears: timer_del waits for a callback running on
 * another CPU, so once the id stops changing nothing of the module runs.
 */
#include <kabi.h>

MODULE_NAME("rearm");
MODULE_VERSION("1.0");
MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kernel authors");
MODULE_DESCRIPTION("A timer that re-arms itself from its callback");

static DEFINE_SPINLOCK(lock);
static int64_t current_id;
static volatile int stopping;
static volatile uint64_t fires;

static void rearm_fire(void *ctx)
{
	uint64_t flags;
	int64_t next;

	(void)ctx;
	fires++;
	if (stopping)
		return;
	next = timer_add(THIS_MODULE, 1000, 0, rearm_fire, NULL);
	flags = spin_lock_irqsave(&lock);
	current_id = next;
	spin_unlock_irqrestore(&lock, flags);
}

static int rearm_init(void)
{
	current_id = timer_add(THIS_MODULE, 1000, 0, rearm_fire, NULL);
	return current_id < 0 ? (int)current_id : 0;
}

static int rearm_exit(void)
{
	uint64_t flags;
	int64_t id;

	stopping = 1;
	for (;;) {
		flags = spin_lock_irqsave(&lock);
		id = current_id;
		spin_unlock_irqrestore(&lock, flags);
		timer_del(THIS_MODULE, id);
		flags = spin_lock_irqsave(&lock);
		if (current_id == id) {
			spin_unlock_irqrestore(&lock, flags);
			break;
		}
		spin_unlock_irqrestore(&lock, flags);
	}
	pr_info("stopped after %llu fires", (unsigned long long)fires);
	return 0;
}

module_init(rearm_init);
module_exit(rearm_exit);
