/*
 * irqinflight: proves that free_irq waits for a handler running on another
 * CPU (issue 10). The module holds an otherwise unused SPI, routes it to a
 * CPU other than the caller's and raises it with irq_inject. Its handler
 * marks itself inside, then spins until the caller signals that it is about
 * to call free_irq and LINGER_US more, so free_irq is entered while the
 * handler is still running there; the caller then checks that the handler
 * had left by the time free_irq returned.
 *
 * Init does this once (retrying if the handler was not inside at the call),
 * then raises the line again and returns with the handler spinning on the
 * other CPU, where it stays until exit: so `rmmod` is issued while the
 * handler runs in module text, and exit's free_irq must wait for it before
 * the module can be freed. Each prints one line:
 *   irqinflight: init: free_irq waited for the handler on CPU3 (inside at call: yes, inside after: no), 50123 us
 * ("did not wait" when the handler was still inside afterwards, or free_irq
 * returned sooner than the handler can have left). The
 * handler's spin is bounded (GIVE_UP_US), so a lost signal cannot hang a CPU.
 *
 * First, init checks that free_irq leaves nothing pending for the line's
 * next owner: it raises the line with this CPU's interrupts masked (routed
 * here, so it stays pending), frees it, requests it again with a counting
 * handler and waits 20 ms:
 *   irqinflight: init: a line pending at free_irq: the next owner's handler ran 0 times
 */
#include <kabi.h>

MODULE_NAME("irqinflight");
MODULE_VERSION("1.0");
MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kernel authors");
MODULE_DESCRIPTION("Calls free_irq while its handler runs on another CPU");

/* SPI 218: nothing on QEMU virt uses it (its devices end at SPI 175). */
static unsigned int irq = 250;
module_param(irq, uint, 0444);
MODULE_PARM_DESC(irq, "the interrupt to raise (an unused SPI, INTID 32 and up)");

static int cpu = -1;
module_param(cpu, int, 0444);
MODULE_PARM_DESC(cpu, "the CPU the handler runs on (-1: the last online CPU)");

/* How long the handler stays after the caller's signal: long enough that
 * free_irq is entered while it is still inside. */
#define LINGER_US 50000ULL
/* The handler returns after this however long nobody signals. */
#define GIVE_UP_US 10000000ULL
#define TRIES 5

static int inside;       /* the handler is running */
static int freeing;      /* the caller is about to call free_irq */
static uint32_t handler_cpu;
static uint32_t target;

static void inflight_handler(uint32_t intid, void *ctx)
{
	uint64_t entered = ktime_us(), seen = 0, now;

	(void)intid;
	(void)ctx;
	handler_cpu = smp_processor_id();
	__atomic_store_n(&inside, 1, __ATOMIC_RELEASE);
	for (;;) {
		now = ktime_us();
		if (now - entered >= GIVE_UP_US)
			break;
		/* The time read after the flag: no earlier than the caller's
		 * t_call, which the caller read before setting it. */
		if (!seen && __atomic_load_n(&freeing, __ATOMIC_ACQUIRE))
			seen = now = ktime_us();
		if (seen && now - seen >= LINGER_US)
			break;
	}
	__atomic_store_n(&inside, 0, __ATOMIC_RELEASE);
}

static int next_owner_calls;

static void counting_handler(uint32_t intid, void *ctx)
{
	(void)intid;
	(void)ctx;
	__atomic_add_fetch(&next_owner_calls, 1, __ATOMIC_RELAXED);
}

/* Frees the line while it is pending (raised, routed to this CPU, whose
 * interrupts are masked), then owns it again for 20 ms: 0, or -errno. */
static int pending_at_free(void)
{
	uint32_t me = smp_processor_id();
	uint64_t flags, start;
	int r;

	r = request_irq(THIS_MODULE, irq, counting_handler, NULL, "irqinflight");
	if (r < 0) {
		pr_err("request_irq(%u) failed: %d", irq, r);
		return r;
	}
	flags = local_irq_save();
	r = irq_set_affinity(THIS_MODULE, irq, me);
	if (r == 0)
		r = irq_inject(THIS_MODULE, irq);
	free_irq(THIS_MODULE, irq);
	local_irq_restore(flags);
	if (r < 0) {
		pr_err("cannot route IRQ %u to CPU%u and raise it: %d", irq, me, r);
		return r;
	}
	__atomic_store_n(&next_owner_calls, 0, __ATOMIC_RELAXED);
	r = request_irq(THIS_MODULE, irq, counting_handler, NULL, "irqinflight");
	if (r < 0) {
		pr_err("request_irq(%u) failed: %d", irq, r);
		return r;
	}
	start = ktime_us();
	while (ktime_us() - start < 20000)
		;
	free_irq(THIS_MODULE, irq);
	pr_info("init: a line pending at free_irq: the next owner's handler ran %d times",
		__atomic_load_n(&next_owner_calls, __ATOMIC_RELAXED));
	return 0;
}

/* request_irq, routed to `target`, raised; returns once the handler is
 * inside on that CPU (0) or -errno. */
static int raise_on_target(void)
{
	uint64_t start;
	int r;

	__atomic_store_n(&freeing, 0, __ATOMIC_RELEASE);
	r = request_irq(THIS_MODULE, irq, inflight_handler, NULL, "irqinflight");
	if (r < 0) {
		pr_err("request_irq(%u) failed: %d", irq, r);
		return r;
	}
	r = irq_set_affinity(THIS_MODULE, irq, target);
	if (r == 0)
		r = irq_inject(THIS_MODULE, irq);
	if (r < 0) {
		pr_err("cannot route IRQ %u to CPU%u and raise it: %d", irq, target, r);
		free_irq(THIS_MODULE, irq);
		return r;
	}
	start = ktime_us();
	while (!__atomic_load_n(&inside, __ATOMIC_ACQUIRE)) {
		if (ktime_us() - start > 2000000) {
			pr_err("IRQ %u raised on CPU%u but its handler never ran", irq, target);
			free_irq(THIS_MODULE, irq);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

/* Signals the handler, calls free_irq and reports what the handler was
 * doing at the call and after it. Returns whether it was inside at the call. */
static bool free_while_inside(const char *when)
{
	int at_call, after;
	bool waited;
	uint64_t t_call, t_ret;
	int r;

	at_call = __atomic_load_n(&inside, __ATOMIC_ACQUIRE);
	t_call = ktime_us();
	__atomic_store_n(&freeing, 1, __ATOMIC_RELEASE);
	r = free_irq(THIS_MODULE, irq);
	t_ret = ktime_us();
	after = __atomic_load_n(&inside, __ATOMIC_ACQUIRE);
	if (r < 0)
		pr_err("%s: free_irq(%u) failed: %d", when, irq, r);
	if (!at_call)
		return false;
	/* The handler saw the signal no earlier than t_call and stayed
	 * LINGER_US after it: a free_irq that waited took at least that. */
	waited = !after && t_ret - t_call >= LINGER_US;
	pr_info("%s: free_irq %s for the handler on CPU%u (inside at call: yes, inside after: %s), %llu us",
		when, waited ? "waited" : "did not wait", handler_cpu, after ? "yes" : "no",
		(unsigned long long)(t_ret - t_call));
	return true;
}

static int inflight_init(void)
{
	uint32_t me = smp_processor_id(), n = num_online_cpus();
	int r, try;

	if (n < 2) {
		pr_err("needs a second CPU for the handler (boot with -smp 2 or more)");
		return -ENODEV;
	}
	target = cpu < 0 ? n - 1 : (uint32_t)cpu;
	if (target == me)
		target = me == 0 ? 1 : 0;
	r = pending_at_free();
	if (r < 0)
		return r;
	for (try = 1; try <= TRIES; try++) {
		r = raise_on_target();
		if (r < 0)
			return r;
		if (free_while_inside("init"))
			break;
		/* The handler gave up before the call: it did not overlap. */
	}
	if (try > TRIES) {
		pr_err("init: the handler was never inside when free_irq was called (%d tries)", TRIES);
		return -EAGAIN;
	}
	/* Leave it running on the target until exit. */
	r = raise_on_target();
	if (r < 0)
		return r;
	pr_info("handler spinning on CPU%u until exit (CPU%u loaded the module)", handler_cpu, me);
	return 0;
}

static int inflight_exit(void)
{
	if (!free_while_inside("exit"))
		pr_info("exit: the handler had already returned (gave up after %llu us)",
			(unsigned long long)GIVE_UP_US);
	return 0;
}

module_init(inflight_init);
module_exit(inflight_exit);
