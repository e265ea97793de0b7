// Build and run: gcc -O2 scripts/grouped-update-bench.c -o /tmp/gub -lopenblas -lm && /tmp/gub 2000 6
// (arguments: entries per group, groups to run[, rows, columns: default 576 x 576]; 2:4 removal of 10% of the weights).
// Per-group cost of the grouped OBS update, old (dense float64 K, dpotrf/dpotrs, dense M·Ai) vs new
// (float32 lower K, spotrf, float64 refinement through the Kronecker product, axpy M·Ai); thread CPU time.
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <cblas.h>
void dpotrf_(const char*,const int*,double*,const int*,int*);
void dpotri_(const char*,const int*,double*,const int*,int*);
void dpotrs_(const char*,const int*,const int*,const double*,const int*,double*,const int*,int*);
void spotrf_(const char*,const int*,float*,const int*,int*);
void spotrs_(const char*,const int*,const int*,const float*,const int*,float*,const int*,int*);
void openblas_set_num_threads(int);
static double now(){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static double rn(){double u=(rand()+1.0)/(RAND_MAX+2.0),v=(rand()+1.0)/(RAND_MAX+2.0);return sqrt(-2*log(u))*cos(6.283185307*v);}
static double* dampedInverse(int n,int T,double d){ // inverse of XᵀX/T + d·mean(diag)·I, X with decaying column scales
  double*x=malloc(8*(size_t)T*n),*a=malloc(8*(size_t)n*n);
  for(int t=0;t<T;t++)for(int i=0;i<n;i++)x[t*n+i]=rn()*pow(1.0+i,-0.7);
  cblas_dgemm(CblasRowMajor,CblasTrans,CblasNoTrans,n,n,T,1.0/T,x,n,x,n,0,a,n);
  double m=0;for(int i=0;i<n;i++)m+=a[i*n+i];m/=n;for(int i=0;i<n;i++)a[i*n+i]+=d*m;
  char u='L';int info;dpotrf_(&u,&n,a,&n,&info);dpotri_(&u,&n,a,&n,&info);
  for(int i=0;i<n;i++)for(int j=i+1;j<n;j++)a[j*n+i]=a[i*n+j];free(x);return a;}
int main(int argc,char**argv){
  int E=atoi(argv[1]),G=atoi(argv[2]),R=argc>3?atoi(argv[3]):576,C=argc>4?atoi(argv[4]):576;openblas_set_num_threads(1);srand(3);
  double*gi=dampedInverse(R,4096,0.1),*ai=dampedInverse(C,4096,0.01);
  double*w0=malloc(8*R*C);for(int i=0;i<R*C;i++)w0[i]=rn();
  // 2:4: 20% of the 4-groups lose 2 entries (10% of the weights)
  char*mask=calloc(R*C,1);for(int i=0;i<R*C;i+=4)if(rand()%5==0){int a=rand()%4,b=(a+1+rand()%3)%4;mask[i+a]=1;mask[i+b]=1;}
  double told=0,tnew=0,maxdiff=0,maxw=0;int fallbacks=0,iters=0;
  double*wo=malloc(8*R*C),*wn=malloc(8*R*C);memcpy(wo,w0,8*R*C);memcpy(wn,w0,8*R*C);
  int row=0;
  for(int g=0;g<G&&row<R;g++){
    int pr[8000],pc[8000],ps[8000],rows[600],off[601],n=0,p=0;off[0]=0;
    while(row<R){int k=0;for(int c=0;c<C;c++)k+=mask[row*C+c];if(n>0&&n+k>E)break;
      for(int c=0;c<C;c++)if(mask[row*C+c]){pr[n]=row;pc[n]=c;ps[n]=p;n++;}rows[p++]=row;off[p]=n;row++;}
    // old
    double t0=now();
    double*k=malloc(8*(size_t)n*n);for(int x=0;x<n;x++)for(int y=0;y<n;y++)k[x*n+y]=gi[pr[x]*R+pr[y]]*ai[pc[x]*C+pc[y]];
    double*m=malloc(8*(size_t)n*n);memcpy(m,k,8*(size_t)n*n);char u='L';int info,one=1;dpotrf_(&u,&n,m,&n,&info);
    double*sol=malloc(8*n);for(int x=0;x<n;x++)sol[x]=wo[pr[x]*C+pc[x]];dpotrs_(&u,&n,&one,m,&n,sol,&n,&info);
    double*M=calloc(p*C,8),*Y=malloc(8*p*C),*GC=malloc(8*R*p);for(int x=0;x<n;x++)M[ps[x]*C+pc[x]]=sol[x];
    cblas_dgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,p,C,C,1,M,C,ai,C,0,Y,C);
    for(int i=0;i<R;i++)for(int s=0;s<p;s++)GC[i*p+s]=gi[i*R+rows[s]];
    cblas_dgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,R,C,p,-1,GC,p,Y,C,1,wo,C);
    told+=now()-t0;free(k);free(m);free(M);
    // new
    t0=now();
    float*kf=calloc((size_t)n*n,4);double*rs=calloc(n,8);double*gp=malloc(8*p*p);
    for(int a=0;a<p;a++)for(int b=0;b<p;b++)gp[a*p+b]=gi[rows[a]*R+rows[b]];
    for(int sx=0;sx<p;sx++)for(int x=off[sx];x<off[sx+1];x++){const double*ar=ai+pc[x]*C;
      for(int sy=0;sy<=sx;sy++){double gv=gp[sx*p+sy];int end=off[sy+1]<x+1?off[sy+1]:x+1;
        for(int y=off[sy];y<end;y++){double v=gv*ar[pc[y]];kf[(size_t)x*n+y]=v;rs[x]+=fabs(v);if(y!=x)rs[y]+=fabs(v);}}}
    double norm=0;for(int x=0;x<n;x++)if(rs[x]>norm)norm=rs[x];
    char uu='U';spotrf_(&uu,&n,kf,&n,&info);if(info)fallbacks++;
    double*t=malloc(8*n),*xs=calloc(n,8),*r=malloc(8*n);float*d=malloc(4*n);
    for(int x=0;x<n;x++){t[x]=wn[pr[x]*C+pc[x]];r[x]=t[x];}
    int ok=0;for(int it=0;it<30&&!info;it++){iters++;for(int x=0;x<n;x++)d[x]=r[x];spotrs_(&uu,&n,&one,kf,&n,d,&n,&info);
      for(int x=0;x<n;x++)xs[x]+=d[x];memset(Y,0,8*p*C);for(int x=0;x<n;x++)cblas_daxpy(C,xs[x],ai+pc[x]*C,1,Y+ps[x]*C,1);
      double rm=0,xm=0;for(int x=0;x<n;x++){double s=0;for(int q=0;q<p;q++)s+=gp[ps[x]*p+q]*Y[q*C+pc[x]];r[x]=t[x]-s;if(fabs(r[x])>rm)rm=fabs(r[x]);if(fabs(xs[x])>xm)xm=fabs(xs[x]);}
      if(rm<=xm*norm*1.1102230246251565e-16*sqrt(n)){ok=1;break;}}
    if(!ok)fallbacks++;
    memset(Y,0,8*p*C);for(int x=0;x<n;x++)cblas_daxpy(C,xs[x],ai+pc[x]*C,1,Y+ps[x]*C,1);
    for(int i=0;i<R;i++)for(int s=0;s<p;s++)GC[i*p+s]=gi[i*R+rows[s]];
    cblas_dgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,R,C,p,-1,GC,p,Y,C,1,wn,C);
    tnew+=now()-t0;free(kf);free(rs);free(gp);free(t);free(xs);free(r);free(d);free(Y);free(GC);free(sol);
    printf("group %d: n=%d rows=%d\n",g,n,p);
  }
  for(int i=0;i<R*C;i++){double e=fabs(wo[i]-wn[i]);if(e>maxdiff)maxdiff=e;if(fabs(wo[i])>maxw)maxw=fabs(wo[i]);}
  printf("groups up to row %d: old %.3f s, new %.3f s CPU (x%.2f); refinement steps %d, float64 fallbacks %d; max|Δw| %.2e (max|w| %.2e)\n",row,told,tnew,told/tnew,iters,fallbacks,maxdiff,maxw);}
