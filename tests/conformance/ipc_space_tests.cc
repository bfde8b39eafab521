// IPC between address spaces (suite `user`; seL4's IPC1001-1004): the peer runs init's code in a
// second address space (ChildSpace) with its own stack and IPC buffer, so every word crosses
// between two page-table trees.
#include <stdint.h>

#include <tessera/sys/testing.h>

#include "ipc_test_env.h"

namespace {
using namespace ipctest;
namespace sys = tessera::sys;
}  // namespace

TESSERA_USER_TEST(IPC1001, pass, "Send + Recv across address spaces: 120 words, label and badge arrive") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap badged{env, mint(env, ep, kWrite, 0xAB)};
  ChildSpace space(env);
  if (t.failed() || !space.ok()) return;
  auto child = space.thread(0);
  if (!child.ok() || !expect_ok(t, child->start(pattern_sender, make_argument(badged, kMessageWords)), "start")) return;
  Received r{};
  if (!expect_is(t, sys::recv(ep, &r), Error::Ok, "recv from the other space")) return;
  check_message(t, r, 0xC0DE, kMessageWords, 0xAB, "message from the other space");
  check_pattern(t, buffer().msg, 0x5EED, kMessageWords, "words from the other space");
}

TESSERA_USER_TEST(IPC1002, pass, "Call + ReplyRecv across address spaces: a server in another space answers") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  ChildSpace space(env);
  if (t.failed() || !space.ok()) return;
  auto server = space.thread(0);
  if (!server.ok() || !expect_ok(t, server->start(echo_server, make_argument(ep, 0)), "start the server")) return;
  let_run();
  call_echo(t, ep, 0x10, kMessageWords, 0x1002);
  call_echo(t, ep, 0x20, 0, 0);
  call_echo(t, ep, 0x30, 5, 0x1003);
}

TESSERA_USER_TEST(IPC1003, pass, "Call + Reply across address spaces: the client's second call proves the reply arrived") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  ChildSpace space(env);
  if (t.failed() || !space.ok()) return;
  auto client = space.thread(0);
  if (!client.ok() || !expect_ok(t, client->start(doubling_client, make_argument(ep, 21)), "start the client")) return;
  Received r{};
  if (!expect_is(t, sys::recv(ep, &r), Error::Ok, "recv the first call")) return;
  if (!t.check(r.info.label == 1 && r.info.length_words == 1 && buffer().msg[0] == 21, "first call: label %lu word %lu",
               r.info.label, buffer().msg[0])) {
    return;
  }
  buffer().msg[0] = 121;
  if (!expect_is(t, sys::reply_recv(ep, MessageInfo{9, 1, 0, 0}, &r), Error::Ok, "reply and receive")) return;
  t.check(r.info.label == 2 && buffer().msg[0] == 242, "second call: label %lu word %lu", r.info.label, buffer().msg[0]);
  expect_is(t, sys::reply(MessageInfo{}), Error::Ok, "last reply");
}

TESSERA_USER_TEST(IPC1004, pass, "Call + Reply + Recv across address spaces, through badged caps with GrantReply") {
  Env env(t);
  OwnedCap ep{env, env.make(ObjectType::Endpoint)};
  OwnedCap server_cap{env, mint(env, ep, kRead | kWrite)};
  OwnedCap client_cap{env, mint(env, ep, kWrite | kGrantReply, 0x44)};
  ChildSpace space(env);
  if (t.failed() || !space.ok()) return;
  auto server = space.thread(0);
  if (!server.ok() || !expect_ok(t, server->start(echo_server, make_argument(server_cap, 1)), "start")) return;
  let_run();
  for (uint32_t round = 0; round < 4; ++round) call_echo(t, client_cap, round, 30 * round, 0x1004 + round);
}
