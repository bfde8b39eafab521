# The timer server (servers/timer, docs/drivers.md): deadline notifications for many clients on the
# PIT's interrupt, time read from the TSC. Ids are pinned (`capnp id`).
#
# The server never holds a reply: a client does not block in a call until its deadline (this
# kernel has no reply objects, so a server owing several replies at once could not keep them).
# Instead a client attaches a notification (a *channel*), arms deadlines on it and waits on the
# notification; when a deadline passes the server records the event on the channel and signals
# the notification; the client collects the events. Sleeping is arm + wait + collect
# (tessera/sys/timer.h does it).
#
# Time is in nanoseconds on one clock every program shares: the TSC scaled by the rate the kernel
# measured (tessera/sys/clock.h, now_ns()); `now` returns the server's reading of it.
@0xa780ed6578314699;

using Abi = import "base.capnp";
using Kernel = import "kernel.capnp";
$Abi.namespace("tessera::timer");

const maxChannels :UInt32 = 32;
# Channels in the server, over all clients.
const channelsPerClient :UInt32 = 4;
# Channels one client (one badge) may hold at once.
const entriesPerChannel :UInt32 = 32;
# A channel's share of the table: its armed deadlines plus its fired, not yet collected events.
const eventsPerCollect :UInt32 = 16;
# Events one `collect` returns at most (`more` says whether others wait).

struct Event @0xc9fd33a78f8e6bc7 {
  id @0 :UInt64;        # what `arm` returned
  cookie @1 :UInt64;    # what the client passed to `arm`
  deadline @2 :UInt64;  # ns
  firedAt @3 :UInt64;   # ns: when the server saw the deadline pass (never before `deadline`)
  sequence @4 :UInt64;  # the server's count of fired deadlines (all channels): the order of firing
}

interface Timer @0x9f44a4f9691b37e7 {
  now @0 () -> (ns :UInt64);
  # The server's clock in ns.
  info @1 () -> (tscHz :UInt64, resolutionNs :UInt64, channels :UInt32, channelsPerClient :UInt32,
                 entriesPerChannel :UInt32);
  # The TSC rate the clock is scaled by, how late past its deadline an event may fire at best
  # (the PIT's tick, rounded up; interrupt and scheduling latency come on top), and the limits.
  attach @2 (notify :Kernel.Notification) -> (channel :UInt32);
  # A new channel whose events signal `notify` (pass a badged copy to see the signal in the word).
  # InvalidArgument without a capability; NotEnoughMemory when this client holds
  # channelsPerClient channels already or the server has no free channel.
  arm @3 (channel :UInt32, deadline :UInt64, cookie :UInt64) -> (id :UInt64);
  # A deadline on the channel: once the clock reaches `deadline` the server records an event and
  # signals the channel's notification. A deadline in the past fires at once, before the reply.
  # InvalidArgument for a channel that is not this client's; NotEnoughMemory when the channel's
  # share (entriesPerChannel armed + uncollected) is full.
  cancel @4 (channel :UInt32, id :UInt64) -> (cancelled :Bool);
  # Disarms a deadline that has not fired (cancelled); false when it fired already (its event
  # stays to be collected) or no such deadline is armed. InvalidArgument as for arm.
  collect @5 (channel :UInt32) -> (events :List(Event), more :Bool);
  # Takes up to eventsPerCollect fired events, in firing order, freeing their share.
  detach @6 (channel :UInt32) -> ();
  # Drops the channel, its deadlines and events, and the server's copy of the notification.
  status @7 () -> (channels :UInt32, armed :UInt32, uncollected :UInt32, reclaimed :UInt64,
                   fired :UInt64);
  # The whole server, after dropping every channel whose notification is gone (its client ended):
  # channels in use, armed deadlines, uncollected events, channels reclaimed so far, events fired.
}
