"""A Python aiortc viewer for the interoperability test (Debian's python3-aiortc 1.4).

It follows aiortc's one-way example: a recvonly video transceiver and a data channel,
then has the server stop the video and resumes it by offering. Prints one JSON line of
results on stdout; exits non-zero on failure. Keeps ICE on 127.0.0.1.
"""
import asyncio
import json
import sys

import aioice.ice
import socketio
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

# Gather on loopback only: no traffic leaves 127.0.0.0/8.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

URL = sys.argv[1]
results = {"steps": []}


def step(name, **info):
    results["steps"].append({"step": name, **info})
    print(f"[aiortc] {name} {info}", file=sys.stderr, flush=True)


async def main():
    sio = socketio.AsyncClient(reconnection=False)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    session = {"id": None}
    early = []
    states = []
    frames = {"n": 0}
    replies = asyncio.Queue()
    offers_seen = []

    async def consume(track):
        while True:
            try:
                await track.recv()
            except Exception:
                return
            frames["n"] += 1

    @pc.on("track")
    def on_track(track):
        if track.kind == "video":
            asyncio.ensure_future(consume(track))

    channel = pc.createDataChannel("data")

    @channel.on("message")
    def on_message(message):
        replies.put_nowait(message)

    async def ping(i):
        channel.send(json.dumps({"type": "ping", "id": i}))
        while True:
            msg = await asyncio.wait_for(replies.get(), 5)
            if f'"id":{i}' in msg or f'"id": {i}' in msg:
                return json.loads(msg)

    async def on_candidate(e):
        if session["id"] is None:
            early.append(e)
            return
        c = e.get("candidate")
        if not c or not c.get("candidate"):
            return
        cand = candidate_from_sdp(c["candidate"].split(":", 1)[1])
        cand.sdpMid = c.get("sdpMid")
        cand.sdpMLineIndex = c.get("sdpMLineIndex")
        await pc.addIceCandidate(cand)

    async def on_offer(e):
        if session["id"] is None:
            early.append(e)
            return
        offers_seen.append(e["offer"]["sdp"])
        # aiortc refuses an offer whose a=setup is not actpass.
        await pc.setRemoteDescription(RTCSessionDescription(e["offer"]["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        res = await sio.call("session:answer", {
            "sessionId": session["id"],
            "answer": {"type": "answer", "sdp": pc.localDescription.sdp},
        }, timeout=10)
        if not res.get("ok"):
            raise RuntimeError(f"answer refused: {res}")

    def on_state(e):
        if e.get("sessionId") == session["id"]:
            states.append(e)

    sio.on("session:candidate", on_candidate)
    sio.on("session:offer", on_offer)
    sio.on("session:state", on_state)

    async def wait_for(pred, what, timeout=10):
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while not pred():
            if loop.time() > end:
                raise TimeoutError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)

    await sio.connect(URL, transports=["websocket"])
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    res = await sio.call("session:start", {"offer": {"type": "offer", "sdp": pc.localDescription.sdp}}, timeout=10)
    if not res.get("ok"):
        raise RuntimeError(f"start refused: {res}")
    session["id"] = res["sessionId"]
    await pc.setRemoteDescription(RTCSessionDescription(res["answer"]["sdp"], "answer"))
    for e in early:
        await (on_offer(e) if "offer" in e else on_candidate(e))
    await wait_for(lambda: frames["n"] >= 30, "30 decoded frames")
    await wait_for(lambda: channel.readyState == "open", "the data channel")
    step("streaming", frames=frames["n"], pong=await ping(1))

    # 1. A stop asked of the server: it re-offers with the video m-line rejected.
    res = await sio.call("session:stop-video", {"sessionId": session["id"]}, timeout=15)
    if not res.get("ok"):
        raise RuntimeError(f"stop-video refused: {res}")
    stop_offer = offers_seen[-1]
    step("server-stop", ok=True, pong=await ping(2), state=states[-1]["state"],
         setup_actpass="a=setup:actpass" in stop_offer, video_port0="m=video 0 " in stop_offer,
         connection=pc.connectionState)

    # 2. Resume, started by the client as aiortc would: a new recvonly transceiver and an
    # offer. (A resume offered by the server recycles the stopped m-line with a new mid,
    # which aiortc 1.4 mishandles: it gives the old, stopped transceiver the new mid too.)
    before = frames["n"]
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    res = await sio.call("session:offer", {
        "sessionId": session["id"],
        "offer": {"type": "offer", "sdp": pc.localDescription.sdp},
    }, timeout=10)
    if not res.get("ok"):
        raise RuntimeError(f"resume offer refused: {res}")
    await pc.setRemoteDescription(RTCSessionDescription(res["answer"]["sdp"], "answer"))
    await wait_for(lambda: frames["n"] >= before + 30, "30 frames after the resume")
    await wait_for(lambda: states and states[-1]["state"] == "streaming", "streaming after the resume")
    step("client-resume", frames=frames["n"] - before, pong=await ping(3), state=states[-1]["state"])

    # A stop started by aiortc itself is not exercised: aiortc 1.4's transceiver.stop()
    # does not reject the m-line in its next offer (it still says recvonly with a port),
    # so nothing tells the server. Chromium and werift clients are tested for that path.

    await sio.call("session:close", {"sessionId": session["id"]}, timeout=10)
    await pc.close()
    await sio.disconnect()
    results["ok"] = True


try:
    asyncio.run(asyncio.wait_for(main(), 90))
except Exception as exc:  # report, then fail
    results["ok"] = False
    results["error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(results), flush=True)
sys.exit(0 if results["ok"] else 1)
