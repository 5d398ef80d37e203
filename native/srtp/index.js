'use strict';
// The compiled addon (node-gyp's output); `require` throws when it was not built, and
// webrtc-oneway then uses its JavaScript SRTP.
module.exports = require('./build/Release/srtp.node');
