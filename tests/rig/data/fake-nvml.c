/*
 * A stand-in for NVIDIA's NVML (libnvidia-ml.so.1) on the rig, which has no GPU and no driver: just
 * the calls the GPU exporter (exporters/gpu.py, through NVIDIA's pynvml) makes, answering for one
 * RTX 5090 per stand-in device file /dev/nvidiaN (steps/fake_gpu.py makes them). Its figures are an
 * RTX 5090's (32607 MiB, 575 W limit; the driver version the project installs), except load: a job
 * on the rig says how busy "its GPU" is by writing "UTILIZATION_PERCENT MEMORY_USED_MIB" to
 * /run/gpucluster-fake-gpu/nvidiaN; without that file the GPU is idle. No ECC (a GeForce has none);
 * Xid events never come. Built into the rig's image by tests/rig/build-image.sh; never on a real node.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SUCCESS 0
#define INVALID_ARGUMENT 2
#define NOT_SUPPORTED 3
#define TIMEOUT 10
#define MAX_GPUS 16

typedef struct { unsigned int gpu, memory; } utilization_t;
typedef struct { unsigned long long total, free, used; } memory_t;
typedef struct { void *device; unsigned long long type, data; unsigned int gi, ci; } event_t;

static const unsigned long long TOTAL_MIB = 32607;

/* The minor number of the index-th stand-in device, or -1. */
static int minor_of(unsigned int index) {
    char path[32];
    unsigned int seen = 0;
    for (int minor = 0; minor < MAX_GPUS; minor++) {
        snprintf(path, sizeof path, "/dev/nvidia%d", minor);
        if (access(path, F_OK) == 0 && seen++ == index) return minor;
    }
    return -1;
}

static int handle_minor(void *device) { return (int)(intptr_t)device - 1; }

/* The load a job wrote for this GPU: utilisation in percent, memory used in MiB. */
static void load(void *device, unsigned int *util, unsigned long long *used_mib) {
    char path[64];
    unsigned int u = 0;
    unsigned long long m = 0;
    snprintf(path, sizeof path, "/run/gpucluster-fake-gpu/nvidia%d", handle_minor(device));
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%u %llu", &u, &m) != 2) u = 0, m = 0;
        fclose(f);
    }
    *util = u > 100 ? 100 : u;
    *used_mib = m > TOTAL_MIB ? TOTAL_MIB : m;
}

static int text(char *out, unsigned int length, const char *value) {
    if (!out || length <= strlen(value)) return INVALID_ARGUMENT;
    strcpy(out, value);
    return SUCCESS;
}

int nvmlInit_v2(void) { return SUCCESS; }
int nvmlInitWithFlags(unsigned int flags) { (void)flags; return SUCCESS; }
int nvmlShutdown(void) { return SUCCESS; }
const char *nvmlErrorString(int result) {
    return result == NOT_SUPPORTED ? "Not Supported" : result == TIMEOUT ? "Timeout" : "Invalid Argument";
}
int nvmlSystemGetDriverVersion(char *out, unsigned int length) { return text(out, length, "580.82.09"); }

int nvmlDeviceGetCount_v2(unsigned int *count) {
    unsigned int n = 0;
    while (minor_of(n) >= 0) n++;
    *count = n;
    return SUCCESS;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **device) {
    int minor = minor_of(index);
    if (minor < 0) return INVALID_ARGUMENT;
    *device = (void *)(intptr_t)(minor + 1);
    return SUCCESS;
}

int nvmlDeviceGetMinorNumber(void *device, unsigned int *minor) {
    *minor = (unsigned int)handle_minor(device);
    return SUCCESS;
}

int nvmlDeviceGetName(void *device, char *out, unsigned int length) {
    (void)device;
    return text(out, length, "NVIDIA GeForce RTX 5090");
}

int nvmlDeviceGetUUID(void *device, char *out, unsigned int length) {
    char uuid[48];
    snprintf(uuid, sizeof uuid, "GPU-5a4d0000-0000-4000-8000-%012d", handle_minor(device));
    return text(out, length, uuid);
}

int nvmlDeviceGetUtilizationRates(void *device, utilization_t *rates) {
    unsigned long long used;
    load(device, &rates->gpu, &used);
    rates->memory = rates->gpu / 2;
    return SUCCESS;
}

int nvmlDeviceGetMemoryInfo(void *device, memory_t *memory) {
    unsigned int util;
    unsigned long long used;
    load(device, &util, &used);
    memory->total = TOTAL_MIB << 20;
    memory->used = used << 20;
    memory->free = memory->total - memory->used;
    return SUCCESS;
}

int nvmlDeviceGetTemperature(void *device, int sensor, unsigned int *celsius) {
    unsigned int util;
    unsigned long long used;
    (void)sensor;
    load(device, &util, &used);
    *celsius = 34 + util * 40 / 100;
    return SUCCESS;
}

int nvmlDeviceGetPowerUsage(void *device, unsigned int *milliwatts) {
    unsigned int util;
    unsigned long long used;
    load(device, &util, &used);
    *milliwatts = 28000 + util * 5200;
    return SUCCESS;
}

int nvmlDeviceGetEnforcedPowerLimit(void *device, unsigned int *milliwatts) {
    (void)device;
    *milliwatts = 575000;
    return SUCCESS;
}

int nvmlDeviceGetClockInfo(void *device, int clock, unsigned int *mhz) {
    unsigned int util;
    unsigned long long used;
    load(device, &util, &used);
    *mhz = clock == 2 ? (util ? 14001 : 405) : (util ? 2617 : 180);
    return SUCCESS;
}

int nvmlDeviceGetTotalEccErrors(void *device, int type, int counter, unsigned long long *count) {
    (void)device, (void)type, (void)counter, (void)count;
    return NOT_SUPPORTED;
}

int nvmlEventSetCreate(void **set) {
    *set = (void *)1;
    return SUCCESS;
}

int nvmlDeviceRegisterEvents(void *device, unsigned long long types, void *set) {
    (void)device, (void)types, (void)set;
    return SUCCESS;
}

int nvmlEventSetWait_v2(void *set, event_t *data, unsigned int timeout_ms) {
    struct timespec wait = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    (void)set, (void)data;
    nanosleep(&wait, NULL);
    return TIMEOUT;
}
