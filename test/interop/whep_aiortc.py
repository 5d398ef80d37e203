"""A plain WHEP viewer: Python aiortc (Debian's python3-aiortc) over aiohttp, written from
draft-ietf-wish-whep alone. POSTs a recvonly offer, reads the 201 answer and its Location,
counts decoded video frames, then DELETEs the resource. Prints one JSON line of results on
stdout; exits non-zero on failure. Keeps ICE on 127.0.0.1.

usage: whep_aiortc.py <endpoint-url> [bearer-token]
"""
import asyncio
import json
import sys
from urllib.parse import urljoin

import aiohttp
import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

# Gather on loopback only: no traffic leaves 127.0.0.0/8.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

URL = sys.argv[1]
TOKEN = sys.argv[2] if len(sys.argv) > 2 else None


async def main():
    result = {}
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    frames = {"n": 0, "size": None}
    first = asyncio.get_event_loop().create_future()

    async def consume(track):
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            frames["n"] += 1
            frames["size"] = [frame.width, frame.height]
            if not first.done():
                first.set_result(True)

    @pc.on("track")
    def on_track(track):
        if track.kind == "video":
            asyncio.ensure_future(consume(track))

    pc.addTransceiver("video", direction="recvonly")
    # aiortc gathers before setLocalDescription returns: the offer carries its candidates.
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Content-Type": "application/sdp"}
    if TOKEN:
        headers["Authorization"] = f"Bearer {TOKEN}"
    async with aiohttp.ClientSession() as http:
        async with http.post(URL, data=pc.localDescription.sdp, headers=headers) as res:
            result["status"] = res.status
            result["content_type"] = res.headers.get("Content-Type")
            result["etag"] = res.headers.get("ETag")
            location = res.headers.get("Location")
            answer = await res.text()
        if result["status"] != 201:
            result["body"] = answer
            print(json.dumps({"ok": False, "error": f"POST answered {result['status']}", **result}))
            return 1
        resource = urljoin(URL, location)
        result["location"] = location
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        try:
            await asyncio.wait_for(first, 15)
        except asyncio.TimeoutError:
            print(json.dumps({"ok": False, "error": "no video frame within 15 s", **result}))
            return 1
        await asyncio.sleep(1.0)
        result["frames"] = frames["n"]
        result["frame_size"] = frames["size"]
        result["connection"] = pc.connectionState
        async with http.delete(resource) as res:
            result["delete_status"] = res.status
        async with http.delete(resource) as res:
            result["delete_again_status"] = res.status
    await pc.close()
    print(json.dumps({"ok": True, **result}))
    return 0


sys.exit(asyncio.run(main()))
