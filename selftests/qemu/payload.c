// SPDX-License-Identifier: GPL-2.0
/*
 * A tiny guest for real-QEMU live migration tests: a 32-bit multiboot ELF
 * that runs with paging off and interrupts masked, owns every 4 KiB page
 * of RAM above itself, and proves after each migration that none of it
 * was lost.
 *
 * Every page holds a pattern derived from (page number, generation); a
 * table in guest RAM (just above the image) keeps each page's expected
 * generation.  The main loop verifies every word of every page, one sweep
 * after another, and in between rewrites random pages with the next
 * generation at a steady rate (rate=<MiB/s> on the command line, paced by
 * the TSC, calibrated against the PIT), so the guest keeps dirtying memory
 * while it is migrated.  A page that the migration lost or sent stale
 * fails the next sweep: verification reads what the destination holds
 * and compares it with what the (migrated) table says was written last.
 *
 * COM1 output, one line each (migrate.py parses it):
 *   payload: boot pages=N base=0x... tsc_khz=K rate=R
 *   sweep N ok ms=T writes=W gen=G
 *   FAIL page P expected X got Y word I gen G   (at most 8 per sweep)
 *   sweep N bad=B ms=T writes=W gen=G
 *
 * Command line (QEMU -append): rate=<MiB/s> (default 16, 0: no writes),
 * mem=<MiB> (stamp at most this much), burst=<ms> (how much writing a
 * pause may make up for, default 10), corrupt=<N> (after sweep N, flip a
 * word of 16 pages behind the table's back: the next sweep must FAIL;
 * proves the check, see migrate.py --expect-corruption).
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long s64;

#define PAGE_SIZE	4096u
#define PAGE_WORDS	(PAGE_SIZE / 4)
#define COM1		0x3f8
#define MB_BOOT_MAGIC	0x2BADB002
#define MAX_FAIL_LINES	8

struct mb_info {
	u32 flags;
	u32 mem_lower, mem_upper;
	u32 boot_device;
	u32 cmdline;
	u32 mods_count, mods_addr;
	u32 syms[4];
	u32 mmap_length, mmap_addr;
};

/* The i386 ABI aligns u64 to 4 in structs: this is multiboot's layout. */
struct mb_mmap {
	u32 size;
	u64 addr, len;
	u32 type;
};

_Static_assert(sizeof(struct mb_mmap) == 24, "multiboot memory map entry");

/* The end of the image (payload.ld's _end). */
static inline u32 image_end(void)
{
	u32 end;

	asm("movl $_end, %0" : "=r"(end));
	return end;
}

static inline void outb(u16 port, u8 v)
{
	asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
	u8 v;

	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

/* 64-by-32 division without libgcc (rarely called). */
static u64 udiv64(u64 n, u32 d)
{
	u64 q = 0, r = 0;
	int i;

	for (i = 63; i >= 0; i--) {
		r = (r << 1) | ((n >> i) & 1);
		if (r >= d) {
			r -= d;
			q |= 1ull << i;
		}
	}
	return q;
}

static void serial_init(void)
{
	outb(COM1 + 1, 0x00);	/* no interrupts */
	outb(COM1 + 3, 0x80);	/* DLAB */
	outb(COM1 + 0, 0x01);	/* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);	/* 8n1 */
	outb(COM1 + 2, 0xc7);	/* FIFO */
	outb(COM1 + 4, 0x03);
}

static void putc(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, c);
}

static void puts(const char *s)
{
	while (*s)
		putc(*s++);
}

static void putu(u64 v)
{
	char buf[21];
	int i = 20;

	buf[i] = 0;
	do {
		u64 q = udiv64(v, 10);

		buf[--i] = '0' + (char)(v - q * 10);
		v = q;
	} while (v);
	puts(&buf[i]);
}

static void putx(u32 v)
{
	int i;

	puts("0x");
	for (i = 28; i >= 0; i -= 4)
		putc("0123456789abcdef"[(v >> i) & 15]);
}

/* Parse "key=<decimal>" from the command line; def when absent. */
static u32 param(const char *cmd, const char *key, u32 def)
{
	const char *p = cmd;

	while (p && *p) {
		const char *k = key, *s = p;

		while (*k && *s == *k) {
			k++;
			s++;
		}
		if (!*k && *s == '=' && (p == cmd || p[-1] == ' ')) {
			u32 v = 0;

			for (s++; *s >= '0' && *s <= '9'; s++)
				v = v * 10 + (u32)(*s - '0');
			return v;
		}
		p++;
	}
	return def;
}

/* TSC ticks per second, against 50 ms of PIT channel 2 (mode 0). */
static u64 tsc_hz(void)
{
	const u32 count = 1193182 / 20;
	u64 t0, t1;

	outb(0x61, (inb(0x61) & ~0x02) | 0x01);
	outb(0x43, 0xb0);
	outb(0x42, count & 0xff);
	outb(0x42, count >> 8);
	t0 = rdtsc();
	while (!(inb(0x61) & 0x20))
		;
	t1 = rdtsc();
	return (t1 - t0) * 20;
}

static u32 *table;		/* expected generation per page */
static u32 *pages;		/* the stamped pages */
static u32 npages;
static u32 rng = 2463534242u;
static u64 writes;

static inline u32 page_base(u32 p, u32 gen)
{
	return (p * 0x9e3779b1u) ^ (gen * 0x85ebca77u);
}

static void stamp(u32 p, u32 gen)
{
	u32 *w = pages + (u64)p * PAGE_WORDS;
	u32 base = page_base(p, gen), k = 0;
	u32 i;

	w[0] = p;
	w[1] = gen;
	for (i = 2; i < PAGE_WORDS; i++) {
		k += 0xc2b2ae3du;
		w[i] = base ^ k ^ i;
	}
	table[p] = gen;
}

/* 0 when page p holds its expected generation's pattern. */
static int verify(u32 p, u32 *nfail)
{
	const u32 *w = pages + (u64)p * PAGE_WORDS;
	u32 gen = table[p], base = page_base(p, gen), k = 0;
	u32 i, exp, got = 0, bad = PAGE_WORDS;

	if (w[0] != p) {
		bad = 0;
		exp = p;
		got = w[0];
	} else if (w[1] != gen) {
		bad = 1;
		exp = gen;
		got = w[1];
	} else {
		for (i = 2; i < PAGE_WORDS; i++) {
			k += 0xc2b2ae3du;
			if (w[i] != (base ^ k ^ i)) {
				bad = i;
				exp = base ^ k ^ i;
				got = w[i];
				break;
			}
		}
	}
	if (bad == PAGE_WORDS)
		return 0;
	if ((*nfail)++ < MAX_FAIL_LINES) {
		puts("FAIL page ");
		putu(p);
		puts(" expected ");
		putx(exp);
		puts(" got ");
		putx(got);
		puts(" word ");
		putu(bad);
		puts(" gen ");
		putu(gen);
		puts("\n");
	}
	return 1;
}

static u32 rand32(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* The pacing of the writer: the TSC at which the next write is due. */
static u64 next_write, period, burst;

static void pace(void)
{
	u64 now = rdtsc();

	if (!period)
		return;
	/* After a pause (migration downtime), make up at most "burst". */
	if ((s64)(now - next_write) > (s64)burst)
		next_write = now - burst;
	while ((s64)(now - next_write) >= 0) {
		u32 p = rand32() % npages;

		stamp(p, table[p] + 1);
		writes++;
		next_write += period;
	}
}

void payload_main(u32 magic, struct mb_info *mbi)
{
	static char cmd[256];
	u32 base = (image_end() + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	u32 top = 0, rate, limit, table_pages, total, corrupt, p, i;
	u64 hz, sweep, gen_max;

	serial_init();
	if (magic != MB_BOOT_MAGIC) {
		puts("payload: FAIL not started by a multiboot loader\n");
		return;
	}
	if ((mbi->flags & (1u << 2)) && mbi->cmdline) {
		const char *s = (const char *)mbi->cmdline;

		for (i = 0; s[i] && i < sizeof(cmd) - 1; i++)
			cmd[i] = s[i];
	}
	/* The RAM region that holds 1 MiB, from the firmware's map. */
	if (mbi->flags & (1u << 6)) {
		u32 a = mbi->mmap_addr;

		while (a < mbi->mmap_addr + mbi->mmap_length) {
			const struct mb_mmap *m = (const struct mb_mmap *)a;

			if (m->type == 1 && m->addr <= 0x100000 &&
			    m->addr + m->len > 0x100000) {
				u64 end = m->addr + m->len;

				top = end > 0xfffff000ull ? 0xfffff000u : (u32)end;
			}
			a += m->size + 4;
		}
	}
	if (!top && (mbi->flags & 1))
		top = 0x100000 + mbi->mem_upper * 1024;
	top &= ~(PAGE_SIZE - 1);
	if (top <= base + 4 * PAGE_SIZE) {
		puts("payload: FAIL no memory above the image\n");
		return;
	}

	rate = param(cmd, "rate", 16);
	limit = param(cmd, "mem", 0);
	total = (top - base) / PAGE_SIZE;
	if (limit && total > limit * 256)
		total = limit * 256;
	/* One u32 per stamped page: table_pages + npages <= total. */
	table_pages = (total * 4 + PAGE_SIZE + 3) / (PAGE_SIZE + 4);
	npages = total - table_pages;
	table = (u32 *)base;
	pages = (u32 *)(base + table_pages * PAGE_SIZE);

	hz = tsc_hz();
	if (rate) {
		period = udiv64(hz, rate * 256);
		if (!period)
			period = 1;
	}
	burst = udiv64(hz * param(cmd, "burst", 10), 1000);
	corrupt = param(cmd, "corrupt", 0);

	puts("payload: boot pages=");
	putu(npages);
	puts(" base=");
	putx((u32)pages);
	puts(" top=");
	putx((u32)pages + npages * PAGE_SIZE);
	puts(" tsc_khz=");
	putu(udiv64(hz, 1000));
	puts(" rate=");
	putu(rate);
	puts("\n");

	for (p = 0; p < npages; p++)
		stamp(p, 1);
	puts("payload: stamped\n");

	next_write = rdtsc();
	for (sweep = 1;; sweep++) {
		u64 t0 = rdtsc(), w0 = writes;
		u32 nfail = 0, nbad = 0;

		for (p = 0; p < npages; p++) {
			nbad += verify(p, &nfail);
			if (!(p & 7))
				pace();
		}
		gen_max = 0;
		for (p = 0; p < npages; p++)
			if (table[p] > gen_max)
				gen_max = table[p];
		puts("sweep ");
		putu(sweep);
		if (nbad) {
			puts(" bad=");
			putu(nbad);
		} else {
			puts(" ok");
		}
		puts(" ms=");
		putu(udiv64(rdtsc() - t0, (u32)udiv64(hz, 1000)));
		puts(" writes=");
		putu(writes - w0);
		puts(" gen=");
		putu(gen_max);
		puts("\n");
		/*
		 * 16 pages, so that the writer cannot rewrite them all
		 * before the next sweep reads them.
		 */
		if (sweep == corrupt)
			for (i = 0; i < 16; i++)
				pages[(u64)(npages / 16 * i + 7) * PAGE_WORDS + 7] ^= 1;
	}
}
