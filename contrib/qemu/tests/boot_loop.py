#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Boot touch.elf over and over and say where a guest that stalls is stuck.

Run in the Debian 13 test VM (vm-test.sh boot), once per KVM:

  boot_loop.py --qemu <binary> --payload touch.elf --name <group> \
      --accel <accel> --boots N

Each boot starts QEMU as qemu_patch_test.py does (2 MiB hugetlb memfd RAM,
touch.elf by multiboot) and waits --timeout seconds for two sweeps on the
guest's serial port.  A guest that prints them is stopped and the next one
started.  A guest that does not is a stall: before it is killed, what QEMU,
KVM and L1 can tell about it is printed, so that the stall can be put down
to the guest, QEMU, L1's KVM or the emulation:

  - its serial output and QEMU's stderr;
  - every QEMU thread's state, CPU time, wchan and kernel stack, sampled
    twice (a vCPU thread spinning in the kernel or in the guest uses CPU
    time; one asleep does not);
  - KVM's statistics of the VM and its vCPU (query-stats), twice, as
    differences: exits, faults, halts, I/O;
  - a second of L1's kvm:kvm_exit, kvm:kvm_page_fault and kvm:kvm_entry
    trace events for that QEMU, counted by exit reason and address;
  - QMP query-status and "info registers" (which needs the vCPU to leave
    KVM_RUN: a command that times out says it does not).

Output: "boot <group> <n> ok <seconds>" per boot, "STALL" blocks, and
"RESULT <group> boots <n> stalls <s>".  Exit status 1 on any stall.
"""

import argparse
import collections
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu_patch_test import VM, Failure, log  # noqa: E402
from qmp import firmware_stall  # noqa: E402

TRACING = '/sys/kernel/tracing'


def threads(pid):
    out = []
    for tid in sorted(os.listdir('/proc/%d/task' % pid), key=int):
        base = '/proc/%d/task/%s/' % (pid, tid)
        try:
            with open(base + 'comm') as f:
                comm = f.read().strip()
            with open(base + 'stat') as f:
                st = f.read().rsplit(')', 1)[1].split()
            with open(base + 'wchan') as f:
                wchan = f.read().strip()
            try:
                with open(base + 'stack') as f:
                    stack = [line.split()[1] for line in f if line.strip()]
            except OSError:
                stack = []
        except OSError:
            continue
        # Fields after the comm: state is 0, utime 11, stime 12 (ticks).
        out.append((tid, comm, st[0], int(st[11]), int(st[12]), wchan, stack))
    return out


def trace_second(pid):
    """One second of L1's KVM trace events of QEMU process pid."""
    if not os.path.isdir(TRACING + '/events/kvm'):
        return ['no ' + TRACING + '/events/kvm']
    tids = ' '.join(os.listdir('/proc/%d/task' % pid))

    def put(name, val):
        with open(os.path.join(TRACING, name), 'w') as f:
            f.write(val)
    put('tracing_on', '0')
    put('trace', '')
    put('set_event_pid', tids)
    for ev in ('kvm_exit', 'kvm_page_fault', 'kvm_entry'):
        put('events/kvm/%s/enable' % ev, '1')
    put('tracing_on', '1')
    time.sleep(1)
    put('tracing_on', '0')
    with open(TRACING + '/trace') as f:
        lines = [line.rstrip() for line in f if not line.startswith('#')]
    for ev in ('kvm_exit', 'kvm_page_fault', 'kvm_entry'):
        put('events/kvm/%s/enable' % ev, '0')
    put('set_event_pid', '')
    count = collections.Counter()
    for line in lines:
        m = re.search(r'(kvm_\w+): (.*)', line)
        if not m:
            continue
        ev, rest = m.groups()
        if ev == 'kvm_exit':
            r = re.search(r'reason (\S+) rip (\S+)', rest)
            key = 'exit %s rip %s' % r.groups() if r else rest[:60]
        elif ev == 'kvm_page_fault':
            r = re.search(r'address (\S+)', rest)
            key = 'page_fault %s' % (r.group(1) if r else rest[:60])
        else:
            key = ev
        count[key] += 1
    out = ['%d events in 1 s' % len(lines)]
    out += ['%6d %s' % (n, k) for k, n in count.most_common(12)]
    out += ['first: ' + line for line in lines[:8]]
    return out


def stats_pair(vm):
    """KVM's statistics of the VM and vCPU, sampled 2 s apart: changes."""
    def sample():
        return {t + '.' + k: v for t in ('vm', 'vcpu')
                for k, v in vm.stats(t).items()}
    a = sample()
    time.sleep(2)
    b = sample()
    changed = ['%s %d -> %d' % (k, a[k], b[k]) for k in sorted(b)
               if k in a and a[k] != b[k]]
    fixed = ['%s %d' % (k, b[k]) for k in sorted(b)
             if k in a and a[k] == b[k] and b[k] and
             re.search(r'exits|fault|pages_|halt_wakeup', k)]
    return changed, fixed


def stuck_code(vm, regs):
    """With the vCPU stopped in real mode: where it is stuck and the code
    bytes there, as the guest's memory holds them.  At SeaBIOS's IRET
    (f000:ff53), the place it returns to, from the IRET frame.  Code that
    is no instruction shows a wild jump; a valid one that keeps raising
    #UD would point at the CPU (here, the emulation)."""
    def reg(name):
        m = re.search(name + r'=\s*([0-9a-f]+)', regs)
        return int(m.group(1), 16) if m else None
    cr0, ip, esp = reg('CR0'), reg('EIP'), reg('ESP')
    ss = re.search(r'SS =\S+ (\S+)', regs)
    cs = re.search(r'CS =(\S+)', regs)
    if cr0 is None or cr0 & 1 or ip is None or not ss or not cs:
        return
    seg = int(cs.group(1), 16)
    if (seg, ip) == (0xf000, 0xff53):
        frame = int(ss.group(1), 16) + (esp & 0xffff)
        words = re.findall(r'0x([0-9a-f]{4})\b',
                           vm.qmp.hmp('xp /3hx 0x%x' % frame))
        if len(words) < 3:
            return
        ip, seg, fl = (int(w, 16) for w in words[:3])
        log('  IRET frame at 0x%x: returns to %04x:%04x, flags 0x%x' %
            (frame, seg, ip, fl))
    for line in vm.qmp.hmp('xp /16bx 0x%x' % (seg * 16 + ip)).splitlines():
        log('  code at %04x:%04x: %s' % (seg, ip, line))


def diagnose(vm):
    log('STALL %s: %d sweeps; serial tail %r' %
        (vm.name, vm.sweeps(), vm.output()[-200:]))
    log('  stderr: %r' % vm.stderr()[-400:])
    pid = vm.proc.pid
    for sample in (1, 2):
        for tid, comm, state, ut, stt, wchan, stack in threads(pid):
            log('  thread %s %-16s %s utime %d stime %d wchan %s stack %s' %
                (tid, comm, state, ut, stt, wchan, ' < '.join(stack[:8])))
        if sample == 1:
            time.sleep(2)
    for line in trace_second(pid):
        log('  trace: ' + line)
    vm.qmp.sock.settimeout(10)
    try:
        log('  status: %s' % vm.qmp.cmd('query-status'))
        changed, fixed = stats_pair(vm)
        log('  stats changed over 2 s: %s' % ('; '.join(changed) or 'none'))
        log('  stats unchanged: %s' % '; '.join(fixed))
        log('  cpus: %s' % vm.qmp.cmd('query-cpus-fast'))
        log('  firmware_stall(): %s' % firmware_stall(vm.qmp))
        vm.qmp.cmd('stop')      # registers and memory of one moment
        regs = vm.qmp.hmp('info registers')
        for line in regs.splitlines()[:24]:
            log('  regs: ' + line)
        stuck_code(vm, regs)
    except Exception as e:     # a timeout here is itself the answer
        log('  QMP: %s: %s' % (type(e).__name__, e))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--qemu', required=True)
    ap.add_argument('--payload', required=True)
    ap.add_argument('--name', required=True)
    ap.add_argument('--accel', default='kvm')
    ap.add_argument('--boots', type=int, default=20)
    ap.add_argument('--timeout', type=int, default=60)
    ap.add_argument('--mem', type=int, default=128, help='guest MiB')
    ap.add_argument('--workdir', default='/tmp/boot-loop')
    opts = ap.parse_args()
    opts.trace = True
    opts.restart_on_stall = False       # the stalls are what is counted
    os.makedirs(opts.workdir, exist_ok=True)
    stalls = 0
    for i in range(opts.boots):
        t0 = time.time()
        try:
            vm = VM(opts, '%s-%d' % (opts.name, i), opts.accel)
        except Failure as e:
            log('boot %s %d FAIL did not start: %s' % (opts.name, i, e))
            stalls += 1
            continue
        try:
            if vm.wait_sweeps(2, timeout=opts.timeout):
                log('boot %s %d ok %.1f' % (opts.name, i, time.time() - t0))
                for p in (vm.serial, vm.log, vm.err.name):
                    if os.path.exists(p):
                        os.unlink(p)
            else:
                stalls += 1
                diagnose(vm)
        finally:
            vm.stop()
    log('RESULT %s boots %d stalls %d' % (opts.name, opts.boots, stalls))
    return 1 if stalls else 0


if __name__ == '__main__':
    sys.exit(main())
