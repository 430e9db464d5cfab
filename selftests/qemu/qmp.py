# SPDX-License-Identifier: GPL-2.0
"""QMP for kvm-split's QEMU tests (migrate.py, contrib/qemu/tests/*.py).

A minimal client, and the check that tells the emulation's firmware stall
from anything else (Documentation/qemu.rst, "The firmware stall").
"""

import json
import re
import socket
import subprocess
import time


class Failure(Exception):
    pass


class QMP:
    """A minimal QMP client: one command at a time, events dropped."""

    def __init__(self, path, timeout):
        deadline = time.time() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.time() > deadline:
                    raise Failure('no QMP socket at ' + path)
                time.sleep(0.1)
        self.sock.settimeout(timeout)
        self.buf = b''
        greeting = self._read()
        if 'QMP' not in greeting:
            raise Failure('bad QMP greeting: %r' % greeting)
        self.cmd('qmp_capabilities')

    def _read(self):
        while b'\n' not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise Failure('QMP connection closed')
            self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        self.sock.sendall(json.dumps(msg).encode() + b'\n')
        while True:
            resp = self._read()
            if 'event' in resp:
                continue
            if 'error' in resp:
                raise Failure('QMP %s: %s' % (name, resp['error'].get('desc')))
            return resp.get('return')

    def hmp(self, command):
        return self.cmd('human-monitor-command', **{'command-line': command})

    def close(self):
        self.sock.close()


def kvm_stats(qmp, target='vm'):
    """KVM's binary statistics of the VM or (one) vCPU, through QEMU."""
    out = {}
    for r in qmp.cmd('query-stats', target=target,
                     providers=[{'provider': 'kvm'}]) or []:
        for s in r.get('stats', []):
            if isinstance(s.get('value'), int):
                out[s['name']] = s['value']
    return out


def firmware_stall(qmp):
    """Whether the guest is stuck in its firmware, and how.

    The L2 guests of the Debian 13 test VM boot through SeaBIOS, whose
    multiboot loader enters protected mode before it jumps to the payload.
    About one boot in a hundred or two, on Debian's own kvm_amd as on
    kvm-split's, the firmware never gets there (Documentation/qemu.rst,
    "The firmware stall"; contrib/qemu/tests/boot_loop.py counts them):
    it jumps to code that is not there and loops on #UD (L1's KVM
    intercepts it, fails to emulate it and injects it; SeaBIOS's handler,
    an IRET at f000:ff53, returns to the same place), or it spins in its
    own code with only timer interrupts.  The caller asks only when the
    guest printed nothing for many times its usual boot time; a vCPU still
    in real mode then is stuck in the firmware, before any code of the
    test's guest ran.  Returns a description of its state then, None
    otherwise.
    """
    regs = qmp.hmp('info registers')
    cr0 = re.search(r'CR0=([0-9a-f]+)', regs)
    if not cr0 or int(cr0.group(1), 16) & 1:
        return None
    a = kvm_stats(qmp, 'vcpu')
    time.sleep(1)
    b = kvm_stats(qmp, 'vcpu')
    ip = re.search(r'EIP=(\S+)', regs)
    cs = re.search(r'CS =(\S+)', regs)
    return ('vCPU in real mode at %s:%s; in 1 s %d exits, %d instruction '
            'emulations (#UD), %d port I/O' %
            (cs.group(1) if cs else '?', ip.group(1) if ip else '?',
             b.get('exits', 0) - a.get('exits', 0),
             b.get('insn_emulation', 0) - a.get('insn_emulation', 0),
             b.get('io_exits', 0) - a.get('io_exits', 0)))


def boot_stall(qmp, printed, alive, timeout=20):
    """None once printed() is true or alive() false; if the guest printed
    nothing within timeout seconds, what firmware_stall() says of it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if printed() or not alive():
            return None
        time.sleep(0.1)
    return firmware_stall(qmp)


def quit_qemu(qmp, proc, timeout):
    """Ask QEMU to quit (QMP "quit"), kill it if it has not after timeout
    seconds."""
    try:
        qmp.cmd('quit')
    except Exception:       # no QMP yet, or QEMU gone
        pass
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
