#!/usr/bin/env python3
"""Writes a topology CSV for `candor topology import`: N tenants in three regions, each
placed on one mailbox database and one SharePoint farm. Used to measure bulk imports:

    python3 scripts/gen_topology.py 1000000 > /tmp/topology.csv
    time candor topology import /tmp/topology.csv --data-dir /tmp/candor-bulk
"""
import sys
import uuid

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
regions = [("eu-west", "Europe West", "nl", "Europe/Amsterdam"), ("us-east", "US East", "en", "America/New_York"), ("apac-east", "Asia Pacific East", "ko", "Asia/Seoul")]
scale_units, dbs = 20, 50
out = sys.stdout
out.write("kind,id,name,parent,services,language,time_zone\n")
out.write("service,Exchange,Exchange Online,EX,,,\nfeature,Exchange,Sign-in,E-Mail and calendar access,,,\n")
out.write("service,SharePoint,SharePoint Online,SP,,,\n")
for code, name, _, _ in regions:
    out.write(f"region,{code},{name},,,,\n")
    for s in range(scale_units):
        out.write(f"scale_unit,{code}-su{s},,{code},,,\n")
        for d in range(dbs):
            out.write(f"component,{code}-su{s}-mbx{d},,{code}-su{s},Exchange,,\n")
        out.write(f"component,{code}-su{s}-spo,,{code}-su{s},SharePoint,,\n")
rng = uuid.UUID(int=0x12345678123456781234567812345678).int
for i in range(n):
    code, _, lang, tz = regions[i % 3]
    s = (i // 3) % scale_units
    d = (i // (3 * scale_units)) % dbs
    tid = uuid.UUID(int=(rng + i) % (1 << 128))
    out.write(f"tenant,{tid},Tenant {i:07d},{code},,{lang},{tz}\n")
    out.write(f"placement,{tid},,{code}-su{s}-mbx{d},,,\n")
    out.write(f"placement,{tid},,{code}-su{s}-spo,,,\n")
