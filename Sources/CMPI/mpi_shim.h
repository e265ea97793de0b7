// Open MPI reached at run time: libmpi is dlopen'ed only when the process was started by mpirun
// (Runtime/Distributed/MPICommunicator.swift), so the normal binary neither links nor needs it.
// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are the addresses of its predefined
// global objects (ompi_mpi_comm_world, ...), found with dlsym like the functions. No state lives
// here: everything is in the surgeon_mpi_api value the caller keeps.
#ifndef SURGEON_MPI_SHIM_H
#define SURGEON_MPI_SHIM_H

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    void *lib;
    int (*Init_thread)(int *, char ***, int, int *);
    int (*Comm_rank)(void *, int *);
    int (*Comm_size)(void *, int *);
    int (*Reduce)(const void *, void *, int, void *, void *, int, void *);
    int (*Allreduce)(const void *, void *, int, void *, void *, void *);
    int (*Bcast)(void *, int, void *, int, void *);
    int (*Abort)(void *, int);
    int (*Finalize)(void);
    void *comm_world, *type_float, *type_double, *op_sum;
} surgeon_mpi_api;

/// Loads libmpi (Open MPI 4/5: libmpi.so.40) and its symbols into *api; 0 on success, else -1 with
/// a message in err.
static inline int surgeon_mpi_load(surgeon_mpi_api *api, char *err, int errlen) {
    memset(api, 0, sizeof *api);
    const char *names[] = {"libmpi.so.40", "libmpi.so"};
    for (int i = 0; i < 2 && !api->lib; i++) api->lib = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
    if (!api->lib) {
        snprintf(err, (size_t)errlen, "cannot load Open MPI's libmpi.so.40 (%s)", dlerror());
        return -1;
    }
#define SURGEON_MPI_SYM(field, name)                                                            \
    if (!(*(void **)&api->field = dlsym(api->lib, name))) {                                     \
        snprintf(err, (size_t)errlen, "libmpi has no symbol %s (not Open MPI?)", name);          \
        return -1;                                                                              \
    }
    SURGEON_MPI_SYM(Init_thread, "MPI_Init_thread")
    SURGEON_MPI_SYM(Comm_rank, "MPI_Comm_rank")
    SURGEON_MPI_SYM(Comm_size, "MPI_Comm_size")
    SURGEON_MPI_SYM(Reduce, "MPI_Reduce")
    SURGEON_MPI_SYM(Allreduce, "MPI_Allreduce")
    SURGEON_MPI_SYM(Bcast, "MPI_Bcast")
    SURGEON_MPI_SYM(Abort, "MPI_Abort")
    SURGEON_MPI_SYM(Finalize, "MPI_Finalize")
    SURGEON_MPI_SYM(comm_world, "ompi_mpi_comm_world")
    SURGEON_MPI_SYM(type_float, "ompi_mpi_float")
    SURGEON_MPI_SYM(type_double, "ompi_mpi_double")
    SURGEON_MPI_SYM(op_sum, "ompi_mpi_op_sum")
#undef SURGEON_MPI_SYM
    return 0;
}

/// MPI_Init_thread(FUNNELED: only the main thread calls MPI); rank and size of MPI_COMM_WORLD.
static inline int surgeon_mpi_init(const surgeon_mpi_api *api, int *rank, int *size) {
    int provided = 0, rc = api->Init_thread(NULL, NULL, 1 /* MPI_THREAD_FUNNELED */, &provided);
    if (rc != 0) return rc;
    if ((rc = api->Comm_rank(api->comm_world, rank)) != 0) return rc;
    return api->Comm_size(api->comm_world, size);
}

// Counts above INT_MAX go in chunks (MPI counts are int).
#define SURGEON_MPI_CHUNK (1L << 30)

/// Sum of buf[0..<count] over the ranks into root's buf (in place there; the others' unchanged).
static inline int surgeon_mpi_reduce_sum_double(const surgeon_mpi_api *api, double *buf, long count, int root, int rank) {
    for (long o = 0; o < count; o += SURGEON_MPI_CHUNK) {
        int n = (int)(count - o < SURGEON_MPI_CHUNK ? count - o : SURGEON_MPI_CHUNK);
        int rc = rank == root ? api->Reduce((const void *)1 /* MPI_IN_PLACE */, buf + o, n, api->type_double, api->op_sum, root, api->comm_world)
                              : api->Reduce(buf + o, NULL, n, api->type_double, api->op_sum, root, api->comm_world);
        if (rc != 0) return rc;
    }
    return 0;
}

/// Sum of buf[0..<count] over the ranks, in place on every rank.
static inline int surgeon_mpi_allreduce_sum_double(const surgeon_mpi_api *api, double *buf, long count) {
    for (long o = 0; o < count; o += SURGEON_MPI_CHUNK) {
        int n = (int)(count - o < SURGEON_MPI_CHUNK ? count - o : SURGEON_MPI_CHUNK);
        int rc = api->Allreduce((const void *)1 /* MPI_IN_PLACE */, buf + o, n, api->type_double, api->op_sum, api->comm_world);
        if (rc != 0) return rc;
    }
    return 0;
}

/// root's buf[0..<count] copied into every rank's buf.
static inline int surgeon_mpi_bcast_float(const surgeon_mpi_api *api, float *buf, long count, int root) {
    for (long o = 0; o < count; o += SURGEON_MPI_CHUNK) {
        int n = (int)(count - o < SURGEON_MPI_CHUNK ? count - o : SURGEON_MPI_CHUNK);
        int rc = api->Bcast(buf + o, n, api->type_float, root, api->comm_world);
        if (rc != 0) return rc;
    }
    return 0;
}

static inline void surgeon_mpi_abort(const surgeon_mpi_api *api, int code) { api->Abort(api->comm_world, code); }
static inline int surgeon_mpi_finalize(const surgeon_mpi_api *api) { return api->Finalize(); }

#endif
