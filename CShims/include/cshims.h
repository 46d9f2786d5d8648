#ifndef CSHIMS_H
#define CSHIMS_H
int mk_placeholder(void);
#endif
