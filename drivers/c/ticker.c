/*
 * ticker: a periodic timer of period_us microseconds (default 1000) that
 * counts its expiries. Reading /dev/ticker0 says how many times it fired and
 * over how long: "N fires in U us". Used to check that timers expire at
 * their deadline, not at the 100 Hz tick.
 */
#include <kabi.h>

MODULE_NAME("ticker");
MODULE_VERSION("1.0");
MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kernel authors");
MODULE_DESCRIPTION("Counts the expiries of a periodic timer; /dev/ticker0 reports them");

static unsigned int period_us = 1000;
module_param(period_us, uint, 0444);
MODULE_PARM_DESC(period_us, "timer period in microseconds");

static volatile uint64_t fires;
static uint64_t started_us;
static int64_t timer_id;
static int32_t device_id;

static void ticker_fire(void *ctx)
{
	(void)ctx;
	fires++;
}

static intptr_t ticker_read(void *ctx, char *buf, size_t len, uint64_t offset)
{
	char text[64];
	uint64_t n = fires;
	uint64_t elapsed = ktime_us() - started_us;
	int total = kabi_snprintf(text, sizeof(text), "%llu fires in %llu us\n",
				  (unsigned long long)n, (unsigned long long)elapsed);
	size_t i, count;

	(void)ctx;
	if (total < 0 || offset >= (uint64_t)total)
		return 0;
	count = (size_t)total - (size_t)offset;
	if (count > len)
		count = len;
	for (i = 0; i < count; i++)
		buf[i] = text[offset + i];
	return (intptr_t)count;
}

static const struct device_ops ticker_ops = {
	.read = ticker_read,
};

static int ticker_init(void)
{
	struct device_desc desc = {
		.kind = DEVICE_KIND_CHAR,
		.name = "ticker0",
		.ops = &ticker_ops,
	};
	int32_t id;

	if (period_us == 0)
		return -EINVAL;
	id = register_device(THIS_MODULE, &desc);
	if (id < 0)
		return id;
	device_id = id;
	started_us = ktime_us();
	timer_id = timer_add(THIS_MODULE, period_us, period_us, ticker_fire, NULL);
	if (timer_id < 0) {
		unregister_device(THIS_MODULE, device_id);
		return (int)timer_id;
	}
	pr_info("ticking every %u us", period_us);
	return 0;
}

static int ticker_exit(void)
{
	int32_t r = timer_del(THIS_MODULE, timer_id);

	if (r < 0)
		return r;
	return unregister_device(THIS_MODULE, device_id);
}

module_init(ticker_init);
module_exit(ticker_exit);
