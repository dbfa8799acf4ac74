while ! grep -q DONE base.out; do sleep 10; done
bash new.sh > new.out 2>&1
