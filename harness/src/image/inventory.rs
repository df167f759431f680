//! Installed packages found in an image: dpkg status, apk installed database, Python dist-info.
