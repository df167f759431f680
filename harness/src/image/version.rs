//! Version ordering per ecosystem: Debian (dpkg), Alpine (apk), PEP 440.
