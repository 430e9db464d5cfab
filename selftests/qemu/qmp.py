# SPDX-License-Identifier: GPL-2.0
"""QMP for kvm-split's QEMU tests (migrate.py, contrib/qemu/tests/*.py).

A minimal client, and the check that tells the emulation's firmware stall
from anything else (Documentation/qemu.rst, "The firmware stall").
"""

import json
import re
import socket
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
    """Whether the guest's only vCPU loops on #UD in real mode, and how.

    The L2 guests of the Debian 13 test VM boot through SeaBIOS.  About
    one boot in a hundred, on Debian's own kvm_amd as on kvm-split's, the
    firmware jumps to code that is not there (to 0000:0000, or into an
    option ROM's segment) and raises #UD; L1's KVM intercepts it, fails to
    emulate it and injects it; the guest's handler, SeaBIOS's IRET at
    f000:ff53, returns to the same place: tens of thousands of #UD exits a
    second and no I/O, forever.  Seen with KVM's own exit trace and
    statistics by contrib/qemu/tests/boot_loop.py.  Returns a description
    when the vCPU is in real mode, has taken more than 2000 instruction
    emulations in a second and no port I/O in that second; None otherwise.
    """
    regs = qmp.hmp('info registers')
    cr0 = re.search(r'CR0=([0-9a-f]+)', regs)
    if not cr0 or int(cr0.group(1), 16) & 1:
        return None
    a = kvm_stats(qmp, 'vcpu')
    time.sleep(1)
    b = kvm_stats(qmp, 'vcpu')
    emul = b.get('insn_emulation', 0) - a.get('insn_emulation', 0)
    io = b.get('io_exits', 0) - a.get('io_exits', 0)
    if emul < 2000 or io:
        return None
    ip = re.search(r'EIP=(\S+)', regs)
    cs = re.search(r'CS =(\S+)', regs)
    return ('vCPU in real mode at %s:%s, %d #UD emulations and no port I/O '
            'in 1 s' % (cs.group(1) if cs else '?', ip.group(1) if ip else '?',
                        emul))
