// tb_serial: Verilator harness of a board top's UART logic (module lwfc_serial, or any module
// with the same pins: clk, rst (synchronous, active high), rx (into the design, idle high),
// tx (out of it, idle high)), reached by the host over a TCP socket on 127.0.0.1.
//
// The host's bytes are sent into rx at the real bit period (8N1, back to back, as a USB-UART
// sends them); tx is decoded into bytes (mid-bit sampling, stop bit checked). Simulated time
// advances ONLY when the host asks (lock step), so the host's think time costs no simulated
// time and the host's timeouts count simulated time.
//
// Usage: Vtb_serial --divisor=N --clk-hz=HZ [--reset-cycles=16] [--idle-timeout=600]
// Prints "PORT <n>" on stdout once it listens, serves one connection, exits at EOF, on 'Q',
// or after --idle-timeout wall seconds without a request.
//
// Requests (little endian; the Python side is lwfc/driver/protocol_lwfcsim.py):
//   'W' n:u32 bytes[n]      queue bytes for rx (no reply)
//   'R' want:u32 ns:u64     run until `want` bytes came out of tx or `ns` simulated ns passed
//   'D' ns:u64              run until every queued byte has gone into rx (or `ns` passed)
//   'X' cycles:u32          hold rst high for `cycles` cycles (a reset of the bridge)
//   'I'                     no run
//   'Q'                     quit
// Reply to R, D, X, I: cycles:u64 clk_hz:u64 queued:u32 frame_errors:u32 n:u32 bytes[n]
// (every byte decoded since the previous reply).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "Vtop.h"
#include "verilated.h"

namespace {

uint64_t g_divisor = 0, g_clk_hz = 0, g_reset_cycles = 16, g_idle_s = 600;
uint64_t g_cycles = 0;
uint32_t g_frame_errors = 0;

// host -> design (drives rx)
std::deque<uint8_t> g_txq;
bool g_tx_active = false;
uint16_t g_tx_frame = 0;  // start, 8 data (LSB first), stop
uint32_t g_tx_bit = 0, g_tx_cnt = 0;

// design -> host (decodes tx)
std::vector<uint8_t> g_rxbuf;
bool g_rx_active = false;
uint32_t g_rx_cnt = 0, g_rx_bit = 0;
uint8_t g_rx_byte = 0;

int rx_level() {
    if (!g_tx_active) {
        if (g_txq.empty()) return 1;
        uint8_t b = g_txq.front();
        g_txq.pop_front();
        g_tx_frame = static_cast<uint16_t>((1u << 9) | (static_cast<uint16_t>(b) << 1));
        g_tx_active = true;
        g_tx_bit = 0;
        g_tx_cnt = 0;
    }
    int level = (g_tx_frame >> g_tx_bit) & 1;
    if (++g_tx_cnt == g_divisor) {
        g_tx_cnt = 0;
        if (++g_tx_bit == 10) g_tx_active = false;
    }
    return level;
}

void sample_tx(int level) {
    if (!g_rx_active) {
        if (level == 0) {  // start bit's falling edge
            g_rx_active = true;
            g_rx_cnt = 0;
            g_rx_bit = 0;
            g_rx_byte = 0;
        }
        return;
    }
    ++g_rx_cnt;
    // sample bit k at divisor/2 + k*divisor cycles after the edge
    if (g_rx_cnt != g_divisor / 2 + g_rx_bit * g_divisor) return;
    if (g_rx_bit == 0) {
        if (level != 0) g_rx_active = false;  // a glitch, not a start bit
    } else if (g_rx_bit <= 8) {
        g_rx_byte |= static_cast<uint8_t>(level << (g_rx_bit - 1));
    } else {
        if (level == 1)
            g_rxbuf.push_back(g_rx_byte);
        else
            ++g_frame_errors;
        g_rx_active = false;
        return;
    }
    ++g_rx_bit;
}

void tick(Vtop* top, int rst) {
    top->rst = rst;
    top->rx = rx_level();
    top->clk = 1;
    top->eval();
    top->clk = 0;
    top->eval();
    ++g_cycles;
    sample_tx(top->tx);
}

bool read_all(int fd, void* buf, size_t n) {
    auto* p = static_cast<uint8_t*>(buf);
    while (n) {
        pollfd pfd{fd, POLLIN, 0};
        int r = poll(&pfd, 1, static_cast<int>(g_idle_s * 1000));
        if (r <= 0) {
            std::fprintf(stderr, "tb_serial: no request for %llu s, exiting\n",
                         static_cast<unsigned long long>(g_idle_s));
            return false;
        }
        ssize_t got = ::read(fd, p, n);
        if (got <= 0) return false;
        p += got;
        n -= static_cast<size_t>(got);
    }
    return true;
}

bool write_all(int fd, const void* buf, size_t n) {
    const auto* p = static_cast<const uint8_t*>(buf);
    while (n) {
        ssize_t put = ::write(fd, p, n);
        if (put <= 0) return false;
        p += put;
        n -= static_cast<size_t>(put);
    }
    return true;
}

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out.insert(out.end(), b, b + sizeof(T));
}

bool reply(int fd) {
    std::vector<uint8_t> out;
    put<uint64_t>(out, g_cycles);
    put<uint64_t>(out, g_clk_hz);
    put<uint32_t>(out, static_cast<uint32_t>(g_txq.size() + (g_tx_active ? 1 : 0)));
    put<uint32_t>(out, g_frame_errors);
    put<uint32_t>(out, static_cast<uint32_t>(g_rxbuf.size()));
    out.insert(out.end(), g_rxbuf.begin(), g_rxbuf.end());
    g_rxbuf.clear();
    return write_all(fd, out.data(), out.size());
}

uint64_t ns_to_cycles(uint64_t ns) {
    long double c = static_cast<long double>(ns) * g_clk_hz / 1e9L;
    return c > 1.8e19L ? UINT64_MAX : static_cast<uint64_t>(std::ceil(c));
}

uint64_t arg(int argc, char** argv, const char* name, uint64_t dflt) {
    std::string pre = std::string("--") + name + "=";
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], pre.c_str(), pre.size()) == 0)
            return std::strtoull(argv[i] + pre.size(), nullptr, 10);
    return dflt;
}

}  // namespace

int main(int argc, char** argv) {
    g_divisor = arg(argc, argv, "divisor", 0);
    g_clk_hz = arg(argc, argv, "clk-hz", 0);
    g_reset_cycles = arg(argc, argv, "reset-cycles", 16);
    g_idle_s = arg(argc, argv, "idle-timeout", 600);
    if (g_divisor < 2 || g_clk_hz == 0) {
        std::fprintf(stderr, "usage: %s --divisor=N --clk-hz=HZ\n", argv[0]);
        return 2;
    }
    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(argc, argv);
    auto top = std::make_unique<Vtop>(ctx.get());

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (ls < 0 || bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(ls, 1) != 0 || getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        std::perror("tb_serial: socket");
        return 1;
    }
    std::printf("PORT %d\n", ntohs(addr.sin_port));
    std::fflush(stdout);
    pollfd pfd{ls, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(g_idle_s * 1000)) <= 0) {
        std::fprintf(stderr, "tb_serial: nobody connected\n");
        return 1;
    }
    int fd = accept(ls, nullptr, nullptr);
    close(ls);
    if (fd < 0) return 1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    top->clk = 0;
    top->rst = 1;
    top->rx = 1;
    top->eval();
    for (uint64_t i = 0; i < g_reset_cycles; ++i) tick(top.get(), 1);

    for (;;) {
        uint8_t op;
        if (!read_all(fd, &op, 1)) break;
        if (op == 'W') {
            uint32_t n;
            if (!read_all(fd, &n, 4)) break;
            std::vector<uint8_t> data(n);
            if (n && !read_all(fd, data.data(), n)) break;
            g_txq.insert(g_txq.end(), data.begin(), data.end());
            continue;
        }
        if (op == 'R') {
            uint32_t want;
            uint64_t ns;
            if (!read_all(fd, &want, 4) || !read_all(fd, &ns, 8)) break;
            uint64_t stop = ns_to_cycles(ns);
            for (uint64_t c = 0; c < stop && g_rxbuf.size() < want; ++c) tick(top.get(), 0);
        } else if (op == 'D') {
            uint64_t ns;
            if (!read_all(fd, &ns, 8)) break;
            uint64_t stop = ns_to_cycles(ns);
            for (uint64_t c = 0; c < stop && (g_tx_active || !g_txq.empty()); ++c)
                tick(top.get(), 0);
        } else if (op == 'X') {
            uint32_t cycles;
            if (!read_all(fd, &cycles, 4)) break;
            for (uint32_t c = 0; c < cycles; ++c) tick(top.get(), 1);
        } else if (op == 'Q') {
            break;
        } else if (op != 'I') {
            std::fprintf(stderr, "tb_serial: unknown request 0x%02x\n", op);
            break;
        }
        if (!reply(fd)) break;
    }
    close(fd);
    top->final();
    return 0;
}
