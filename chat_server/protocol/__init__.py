"""The protocol's one home: every server frame and every control event, typed.

``base`` holds the one encoder (a typed frame to msgpack bytes, JSON derived at most once);
each feature's frames are in their own small module (``rooms``, ``moderation``, ``social``,
``questions``, ``sessions``, ``talks``, ``message``); ``control`` holds the events gateways
tell each other on the broker's control channel, with their one encoder and one decoder.
Nothing here imports the gateway or a feature: they import this.
"""
